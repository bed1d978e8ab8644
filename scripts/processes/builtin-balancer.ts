// The lab's built-in load balancer, on http-proxy-3 (docs/how-the-lab-works.md, "The
// balancers"). Small on purpose: read it in one sitting.
//
// - round-robin: each request goes to the next backend in turn.
// - sticky: the balancer pins a client to a backend with its own cookie (`lb_backend`), as
//   HAProxy's `cookie SERVERID insert` does, and appends it to the backend's own Set-Cookie.
// - passive health: a backend that refuses a connection is marked down for a moment and the
//   request goes to the next live backend. That is safe because the request never reached
//   the first one; the body is buffered so that a POST can be sent again. A sticky client
//   whose backend is down is re-pinned by the cookie of the backend that answered.
// - when every backend is marked down, each is still tried in turn before the answer is 502.
// - GET /__lb/status lists the backends, up or down, and the requests each served.

import http from "node:http";
import { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { createProxyServer } from "http-proxy-3";
import type { Part } from "./managed-process";

export type Strategy = "round-robin" | "sticky";
export const STICKY_COOKIE = "lb_backend";
const DOWN_FOR_MS = 1000;
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface Backend {
  id: string;
  url: string;
}

interface BackendState extends Backend {
  downUntil: number;
  served: number;
}

export interface BalancerStatus {
  strategy: Strategy;
  backends: Array<{ id: string; url: string; up: boolean; served: number }>;
}

export class Balancer implements Part {
  private readonly backends: BackendState[];
  private next = 0;
  private server: http.Server | undefined;
  // Keep-alive connections to the backends, like nginx's upstream keepalive.
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private readonly proxy = createProxyServer({ xfwd: true, agent: this.agent, proxyTimeout: 30_000 });

  constructor(
    backends: Backend[],
    readonly strategy: Strategy,
  ) {
    this.backends = backends.map((backend) => ({ ...backend, downUntil: 0, served: 0 }));
    // Sticky: tell the client which backend answered, unless its cookie already says so.
    this.proxy.on("proxyRes", (proxyRes, req) => {
      const chosen = (req as RoutedRequest).backendId;
      if (this.strategy !== "sticky" || !chosen || pinnedBackend(req) === chosen) return;
      const existing = proxyRes.headers["set-cookie"] ?? [];
      proxyRes.headers["set-cookie"] = [...existing, `${STICKY_COOKIE}=${chosen}; Path=/; HttpOnly; SameSite=Lax`];
    });
  }

  /** Listens on loopback; resolves with the port. */
  listen(port = 0): Promise<number> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    return new Promise((resolve, reject) => {
      this.server?.once("error", reject);
      this.server?.listen(port, "127.0.0.1", () => resolve((this.server?.address() as AddressInfo).port));
    });
  }

  /** Stops listening and drops every connection. */
  async stop(): Promise<void> {
    this.agent.destroy();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  // What a Parts list needs (scripts/processes/managed-process.ts): it runs in this process, with no pid of its own.
  readonly name = "builtin-balancer";
  readonly pid = undefined;

  get running(): boolean {
    return this.server?.listening ?? false;
  }

  end(): Promise<void> {
    return this.stop();
  }

  status(): BalancerStatus {
    const now = Date.now();
    return {
      strategy: this.strategy,
      backends: this.backends.map(({ id, url, downUntil, served }) => ({ id, url, up: downUntil <= now, served })),
    };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.url === "/__lb/status") {
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(this.status()));
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (error) {
      res.writeHead(413, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ error: "payload_too_large", message: (error as Error).message }));
      return;
    }
    // The body is buffered whole: send it with its length, never chunked (a bodiless POST would
    // otherwise reach the backend as an empty chunked body, which it refuses as not JSON).
    delete req.headers["transfer-encoding"];
    req.headers["content-length"] = String(body.length);
    for (const backend of this.candidates(req)) {
      const outcome = await this.forward(req, res, backend, body);
      if (outcome === "answered") return;
      if (outcome === "refused") {
        backend.downUntil = Date.now() + DOWN_FOR_MS; // passive health: skip it for a moment
        continue; // never reached the backend: safe to send to the next one
      }
      break; // reached the backend and failed midway: not safe to replay
    }
    if (!res.headersSent) {
      res.writeHead(502, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ error: "bad_gateway", message: "no backend could answer this request" }));
    } else {
      res.destroy();
    }
  }

  /** The order to try backends in: live ones first (the pinned one, or the next in turn), then the rest. */
  private candidates(req: http.IncomingMessage): BackendState[] {
    const now = Date.now();
    const start = this.next;
    this.next = (this.next + 1) % this.backends.length;
    const rotation = this.backends.map((_, i) => this.backends[(start + i) % this.backends.length]);
    const pinned =
      this.strategy === "sticky" ? rotation.find((backend) => backend.id === pinnedBackend(req)) : undefined;
    const ordered = pinned ? [pinned, ...rotation.filter((backend) => backend !== pinned)] : rotation;
    return [
      ...ordered.filter((backend) => backend.downUntil <= now),
      ...ordered.filter((backend) => backend.downUntil > now),
    ];
  }

  private forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    backend: BackendState,
    body: Buffer,
  ): Promise<"answered" | "refused" | "failed"> {
    return new Promise((resolve) => {
      (req as RoutedRequest).backendId = backend.id;
      res.once("finish", () => resolve("answered"));
      this.proxy.web(
        req,
        res,
        { target: backend.url, buffer: Readable.from([body]) },
        (error: NodeJS.ErrnoException) => {
          resolve(error.code === "ECONNREFUSED" ? "refused" : "failed");
        },
      );
    }).then((outcome) => {
      if (outcome === "answered") backend.served += 1;
      return outcome as "answered" | "refused" | "failed";
    });
  }
}

interface RoutedRequest extends http.IncomingMessage {
  backendId?: string;
}

function pinnedBackend(req: http.IncomingMessage): string | undefined {
  const match = new RegExp(`(?:^|;\\s*)${STICKY_COOKIE}=([^;]+)`).exec(req.headers.cookie ?? "");
  return match?.[1];
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
