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
// - it keeps the servers' promises (docs/api-reference.md, "The load balancer"): a body no
//   larger than its route accepts, the servers' timeouts, its own errors in JSON, hop-by-hop
//   headers kept to their hop, X-Forwarded-For the connection's address, ALLOWED_HOSTS only.

import http from "node:http";
import { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { createProxyServer } from "http-proxy-3";
import {
  AllowedHost,
  DEFAULT_ALLOWED_HOSTS,
  isAllowedHost,
  parseAllowedHosts,
} from "../../phase1-mockup/src/http/allowed-hosts";
import { DEFAULT_MAX_FILE_BYTES } from "../../phase1-mockup/src/config";
import { SMALL_BODY_BYTES, uploadBodyLimit } from "../../phase1-mockup/src/http/app-basics";
import { answerClientError, HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from "../../phase1-mockup/src/http/serve";
import type { Part } from "./managed-process";

export type Strategy = "round-robin" | "sticky";
export const STICKY_COOKIE = "lb_backend";
const DOWN_FOR_MS = 1000;
// Headers about one connection, not the request (RFC 9110, 7.6.1), with every header that
// `Connection` names. http-proxy-3 drops only Trailer; Transfer-Encoding goes because the
// buffered body is sent with its length.
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "upgrade", "transfer-encoding"];

export interface Backend {
  id: string;
  url: string;
}

export interface BalancerOptions {
  /** The MAX_FILE_BYTES of the servers behind: an upload's body may be as large as theirs accept. */
  maxFileBytes?: number;
  /** ALLOWED_HOSTS: the Host names answered; loopback's names on any port when absent. */
  allowedHosts?: AllowedHost[] | "*";
  /** The servers' 10 s and 30 s when absent; tests set them shorter. */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
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
  private readonly maxFileBytes: number;
  private readonly allowedHosts: AllowedHost[] | "*";
  // Keep-alive connections to the backends, like nginx's upstream keepalive.
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  // No `xfwd`: it appends to the client's X-Forwarded-For, and handle() replaces it instead.
  private readonly proxy = createProxyServer({ agent: this.agent, proxyTimeout: 30_000 });

  constructor(
    backends: Backend[],
    readonly strategy: Strategy,
    private readonly options: BalancerOptions = {},
  ) {
    this.backends = backends.map((backend) => ({ ...backend, downUntil: 0, served: 0 }));
    this.maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.allowedHosts = options.allowedHosts ?? parseAllowedHosts(DEFAULT_ALLOWED_HOSTS);
    this.proxy.on("proxyRes", (proxyRes, req, res) => {
      // The backend's Connection and Keep-Alive are about its connection to us; the client's is ours to say.
      dropHopByHop(proxyRes.headers);
      proxyRes.headers.connection = res.shouldKeepAlive ? "keep-alive" : "close";
      // Sticky: tell the client which backend answered, unless its cookie already says so.
      const chosen = (req as RoutedRequest).backendId;
      if (this.strategy !== "sticky" || !chosen || pinnedBackend(req) === chosen) return;
      const existing = proxyRes.headers["set-cookie"] ?? [];
      proxyRes.headers["set-cookie"] = [...existing, `${STICKY_COOKIE}=${chosen}; Path=/; HttpOnly; SameSite=Lax`];
    });
  }

  /** Listens on loopback; resolves with the port. */
  listen(port = 0): Promise<number> {
    const requestTimeout = this.options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    const options: http.ServerOptions = {
      requireHostHeader: false, // a request without Host goes on: the server behind answers it, in JSON
      connectionsCheckingInterval: 1000, // the timeouts are checked every second (Node: every 30 s)
      // Node refuses a headers timeout longer than the request's (a test's short request timeout).
      headersTimeout: Math.min(this.options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS, requestTimeout),
      requestTimeout,
    };
    const server = http.createServer(options, (req, res) => void this.handle(req, res));
    // A request Node refuses before handle() (a slow client, a request line that is not HTTP): JSON too.
    server.on("clientError", (error: NodeJS.ErrnoException, socket) =>
      answerClientError(error, socket, (status) => (status === 408 ? "request_timeout" : "bad_request"), {}),
    );
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
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
    // First, /__lb/status included: a page on another name that resolves to loopback gets nothing here.
    const host = req.headers.host;
    if (host !== undefined && !isAllowedHost(host, this.allowedHosts)) {
      return answer(res, 421, "misdirected_request", `the balancer does not answer to the host ${host}`);
    }
    if (req.url === "/__lb/status") {
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(this.status()));
      return;
    }
    // Bodies are buffered rather than streamed, but never past what the route accepts: a POST
    // can then be sent again when a backend refuses the connection, and a server sees a request
    // only once it is whole, so a client that trickles its body holds the balancer, not a server
    // (nginx buffers the same way). The price: an upload's body (6 x MAX_FILE_BYTES + 64 KiB) is
    // read before the server behind can refuse it as unauthenticated, for 30 s at the most.
    const limit = this.bodyLimit(req);
    const body = Number(req.headers["content-length"] ?? 0) > limit ? "too large" : await readBody(req, limit);
    if (body === "aborted") return; // the client went, or was answered 408 by the clientError handler
    if (body === "too large") {
      // Connection: close, so that the rest of the body is never read.
      const message = `the request body is over ${limit} bytes, the most this route accepts`;
      return answer(res, 413, "payload_too_large", message, { Connection: "close" });
    }
    headersForBackend(req, body.length);
    for (const backend of this.candidates(req)) {
      const outcome = await this.forward(req, res, backend, body);
      if (outcome === "answered") return;
      if (outcome === "refused") {
        backend.downUntil = Date.now() + DOWN_FOR_MS; // passive health: skip it for a moment
        continue; // never reached the backend: safe to send to the next one
      }
      break; // reached the backend and failed midway: not safe to replay
    }
    if (!res.headersSent) answer(res, 502, "bad_gateway", "no backend could answer this request");
    else res.destroy();
  }

  /** What the servers read on this route: an upload's limit on POST /api/upload (as they match it), 16 KiB elsewhere. */
  private bodyLimit(req: http.IncomingMessage): number {
    const path = (req.url ?? "").split("?")[0].replace(/\/+$/, "").toLowerCase();
    return req.method === "POST" && path === "/api/upload" ? uploadBodyLimit(this.maxFileBytes) : SMALL_BODY_BYTES;
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

/** The balancer's own answers: JSON, as the servers' are. */
function answer(
  res: http.ServerResponse,
  status: number,
  error: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify({ error, message });
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/** The headers a backend gets: no hop-by-hop ones, the body's length, and X-Forwarded-* as the balancer saw them. */
function headersForBackend(req: http.IncomingMessage, bodyLength: number): void {
  const headers = req.headers;
  dropHopByHop(headers);
  // The body is whole: send it with its length, never chunked (a bodiless POST would
  // otherwise reach the backend as an empty chunked body, which it refuses as not JSON).
  headers["content-length"] = String(bodyLength);
  // One trusted hop: what the client wrote about its address is replaced, never appended to,
  // so a server that trusts one proxy (TRUST_PROXY_HOPS=1) reads the connection's address.
  delete headers.forwarded;
  headers["x-forwarded-for"] = req.socket.remoteAddress ?? "";
  headers["x-forwarded-proto"] = "http";
  headers["x-forwarded-port"] = String(req.socket.localPort ?? "");
  if (headers.host === undefined) delete headers["x-forwarded-host"];
  else headers["x-forwarded-host"] = headers.host;
}

function dropHopByHop(headers: http.IncomingHttpHeaders): void {
  const named = String(headers.connection ?? "").split(",");
  for (const name of [...HOP_BY_HOP, ...named.map((text) => text.trim().toLowerCase())]) delete headers[name];
}

/** The body, once it has all come and is within `limit` bytes; "too large" as soon as it passes it (the rest is not read). */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | "too large" | "aborted"> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const collect = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      req.off("data", collect).pause();
      chunks.length = 0;
      resolve("too large");
    };
    req.on("data", collect);
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("close", () => resolve("aborted")); // after "end", too late to change the answer
    req.on("error", () => resolve("aborted"));
  });
}
