// The built-in balancer keeps the promises the servers behind it make (docs/api-reference.md,
// "The load balancer"): it reads no more body than the route accepts, gives slow clients the
// servers' timeouts, answers its own errors in JSON, answers only the ALLOWED_HOSTS names,
// keeps hop-by-hop headers to their hop, and writes X-Forwarded-For itself. Real processes and
// real sockets on loopback: a phase 1 server behind the balancer process, and echo backends.

import { ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { uploadBodyLimit } from "../../phase1-mockup/src/http/app-basics";
import { compiledScript } from "../processes/server-instance";
import { Balancer, BalancerOptions } from "../processes/builtin-balancer";
import { JsonBody } from "../../test-support/http";
import { runScript, startServer, stopAllServers } from "../../test-support/server-process";
import { makeTempDir, removeTempDirs } from "../../test-support/temp-dir";

const MiB = 1024 * 1024;
const servers: http.Server[] = [];
const balancers: Balancer[] = [];
afterEach(async () => {
  await Promise.all(balancers.splice(0).map((balancer) => balancer.stop()));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});
afterAll(async () => {
  await stopAllServers();
  removeTempDirs();
});

interface Seen {
  headers: http.IncomingHttpHeaders;
  length: number;
}

/** A backend that answers every request with the headers and the body length it received, and remembers them. */
async function echoBackend(): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let length = 0;
    req.on("data", (chunk: Buffer) => (length += chunk.length));
    req.on("end", () => {
      seen.push({ headers: req.headers, length });
      // A hop-by-hop header of the backend's own, named in its Connection: the client must not see it.
      const body = JSON.stringify({ headers: req.headers, length });
      res.writeHead(200, {
        "Content-Type": "application/json",
        "Content-Length": Buffer.byteLength(body),
        Connection: "keep-alive, X-Backend-Hop",
        "X-Backend-Hop": "backend-to-balancer only",
      });
      res.end(body);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, seen };
}

async function startBalancer(options: BalancerOptions = {}): Promise<{ port: number; seen: Seen[] }> {
  const backend = await echoBackend();
  const balancer = new Balancer([{ id: "echo", url: backend.url }], "round-robin", options);
  balancers.push(balancer);
  return { port: await balancer.listen(), seen: backend.seen };
}

interface RawAnswer {
  status: number;
  head: string;
  body: JsonBody;
  /** How many of the request's bytes were written before the balancer answered and closed. */
  written: number;
}

/**
 * Writes `request` (the head, then each piece of the body `everyMs` apart, unless the balancer
 * has answered by then) and reads the answer until the balancer closes the connection.
 */
function raw(port: number, head: string, pieces: string[] = [], everyMs = 0): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let answer = "";
    let written = 0;
    socket.on("data", (chunk) => (answer += chunk));
    socket.on("error", () => undefined); // a write after the balancer closed: the answer is what counts
    socket.on("close", () => {
      const [top, ...rest] = answer.split("\r\n\r\n");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(top)?.[1]);
      if (!status) return reject(new Error(`no HTTP answer: ${JSON.stringify(answer.slice(0, 200))}`));
      const text = rest.join("\r\n\r\n");
      try {
        resolve({ status, head: top, body: text ? JSON.parse(text) : undefined, written });
      } catch {
        reject(new Error(`not one JSON body: ${JSON.stringify(answer.slice(0, 400))}`));
      }
    });
    const send = (index: number) => {
      if (socket.destroyed || index >= pieces.length) return;
      socket.write(pieces[index]);
      written += Buffer.byteLength(pieces[index]);
      setTimeout(() => send(index + 1), everyMs);
    };
    socket.write(head);
    written += Buffer.byteLength(head);
    send(0);
  });
}

/** A request head that closes its connection after the answer, so that raw() reads to the end. */
function requestHead(port: number, line: string, headers: Record<string, string> = {}): string {
  const all = { Host: `127.0.0.1:${port}`, Connection: "close", ...headers };
  return `${line}\r\n${Object.entries(all)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("")}\r\n`;
}

/** Resident memory and its peak so far, in MiB, from /proc (Linux). */
function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const read = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]) / 1024;
  return { rss: read("VmRSS"), peak: read("VmHWM") };
}

/**
 * POSTs `total` bytes of nothing to /api/upload without credentials, 64 KiB at a time (never
 * all of it in this process), announced in Content-Length or chunked. Resolves with the
 * answer, or "closed" when the balancer closed the connection before an answer could be read.
 */
function unauthenticatedUpload(url: string, total: number, announced: boolean) {
  return new Promise<{ status: number; body: JsonBody } | "closed">((resolve) => {
    const piece = Buffer.alloc(64 * 1024, 0x20);
    const headers = { "Content-Type": "application/json", ...(announced ? { "Content-Length": String(total) } : {}) };
    const req = http.request(`${url}/api/upload`, { method: "POST", headers, agent: false });
    let over = false;
    const finish = (result: { status: number; body: JsonBody } | "closed") => {
      if (over) return;
      over = true;
      req.destroy();
      resolve(result);
    };
    req.on("error", () => finish("closed"));
    req.on("response", (res) => {
      let text = "";
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => finish({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      res.on("error", () => finish("closed"));
    });
    let sent = 0;
    const pump = () => {
      while (!over && sent < total) {
        sent += piece.length;
        if (!req.write(piece)) return void req.once("drain", pump);
      }
      if (!over) req.end();
    };
    pump();
  });
}

describe("the balancer process in front of a phase 1 server", () => {
  let balancer: ChildProcess | undefined;
  let url = "";
  let pid = 0;

  beforeAll(async () => {
    const server = await startServer("stateless", { env: { DATA_DIR: makeTempDir("balancer-defences") } });
    balancer = fork(compiledScript("processes", "balancer-process.js"), ["round-robin", server.url], {
      env: { ...process.env, PORT: "0" },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    const [message] = (await once(balancer, "message")) as [{ port: number; pid: number }];
    url = `http://127.0.0.1:${message.port}`;
    pid = message.pid;
  });
  afterAll(async () => {
    if (!balancer || balancer.exitCode !== null) return;
    const exited = once(balancer, "exit");
    process.kill(pid, "SIGTERM");
    await exited;
  });

  it("reads no unauthenticated 60 MiB upload into memory: four of them leave it under 32 MiB bigger", async () => {
    const before = memoryMiB(pid);
    // Two announce their size, two are chunked and must be counted as they come, all at once.
    const answers = await Promise.all(
      [true, false, true, false].map((announced) => unauthenticatedUpload(url, 60 * MiB, announced)),
    );
    // Each is refused; the refusal may be lost when the balancer closes while the client still writes.
    expect(answers.filter((answer) => answer !== "closed").length).toBeGreaterThan(0);
    for (const answer of answers.filter((answer) => answer !== "closed"))
      expect(answer).toEqual({ status: 413, body: expect.objectContaining({ error: "payload_too_large" }) });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = memoryMiB(pid);
    expect(after.rss - before.rss).toBeLessThan(32);
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });

  it("closes a connection whose headers are not complete after 10 s, with 408 request_timeout in JSON", async () => {
    const port = Number(new URL(url).port);
    // The headers come a line every 2 s and never end.
    const lines = Array.from({ length: 20 }, (_, i) => `X-Slow-${i}: 1\r\n`);
    const answer = await raw(port, `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`, lines, 2000);
    expect(answer.status).toBe(408);
    expect(answer.body).toEqual({ error: "request_timeout", message: expect.any(String) });
  }, 25_000);

  it("stops at once with one line naming ALLOWED_HOSTS when its value is not a list of hosts", async () => {
    const run = await runScript(
      compiledScript("processes", "balancer-process.js"),
      ["round-robin", url],
      { ALLOWED_HOSTS: "lab.example, not a host!" },
      5000,
    );
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split("\n")).toEqual([expect.stringContaining("ALLOWED_HOSTS")]);
  });
});

describe("the built-in balancer's own answers", () => {
  it("refuses a 17 KiB body to /api/login with 413 payload_too_large, and the backend never sees it", async () => {
    const { port, seen } = await startBalancer();
    const response = await fetch(`http://127.0.0.1:${port}/api/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "alice", password: "x".repeat(17 * 1024) }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: "payload_too_large", message: expect.any(String) });
    expect(seen).toEqual([]);
  });

  it("answers a Content-Length past the limit before the body is sent, and closes the connection", async () => {
    const { port, seen } = await startBalancer();
    const head = requestHead(port, "POST /api/files HTTP/1.1", {
      "Content-Type": "application/json",
      "Content-Length": String(20 * MiB),
      Connection: "keep-alive",
    });
    const answer = await raw(port, head); // no body at all: the answer and the close come anyway
    expect(answer.status).toBe(413);
    expect(answer.head).toMatch(/\r\nConnection: close(\r\n|$)/i);
    expect(answer.body.error).toBe("payload_too_large");
    expect(seen).toEqual([]);
  }, 10_000);

  it("takes an upload up to the servers' upload limit, and refuses one byte more (trailing slash and case ignored)", async () => {
    const maxFileBytes = 1024;
    const limit = uploadBodyLimit(maxFileBytes);
    const { port, seen } = await startBalancer({ maxFileBytes });
    const upload = (path: string, bytes: number) =>
      fetch(`http://127.0.0.1:${port}${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        // A stream: sent chunked, without Content-Length, so that the balancer has to count.
        body: new Blob([" ".repeat(bytes)]).stream(),
        duplex: "half",
      } as RequestInit);
    const whole = await upload("/api/upload", limit);
    expect(whole.status).toBe(200);
    expect(((await whole.json()) as JsonBody).length).toBe(limit);
    const over = await upload("/API/Upload/", limit + 1);
    expect(over.status).toBe(413);
    expect(((await over.json()) as JsonBody).error).toBe("payload_too_large");
    expect(seen.map((request) => request.length)).toEqual([limit]);
  });

  it("closes a body that comes a byte at a time with 408 request_timeout in JSON, before it is whole", async () => {
    const { port, seen } = await startBalancer({ requestTimeoutMs: 3000 });
    const head = requestHead(port, "POST /api/login HTTP/1.1", {
      "Content-Type": "application/json",
      "Content-Length": "20",
    });
    const answer = await raw(port, head, [...("{" + " ".repeat(18) + "}")], 500);
    expect(answer.status).toBe(408);
    expect(answer.body).toEqual({ error: "request_timeout", message: expect.any(String) });
    expect(answer.written).toBeLessThan(Buffer.byteLength(head) + 20);
    expect(seen).toEqual([]);
  }, 15_000);

  it.each([
    ["a request line that is not HTTP", "HELLO THERE\r\n\r\n", 400],
    ["headers over 16 KB", `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431],
  ])("answers %s with a JSON bad_request", async (_what, request, status) => {
    const { port } = await startBalancer();
    const answer = await raw(port, request);
    expect(answer.status).toBe(status);
    expect(answer.body).toEqual({ error: "bad_request", message: expect.stringContaining("malformed request") });
  });

  it("answers another Host with 421 misdirected_request, /__lb/status included, and lets loopback's names through", async () => {
    const { port, seen } = await startBalancer();
    for (const path of ["/api/files", "/__lb/status"]) {
      const answer = await raw(port, requestHead(port, `GET ${path} HTTP/1.1`, { Host: "evil.example" }));
      expect(answer.status).toBe(421);
      expect(answer.body).toEqual({ error: "misdirected_request", message: expect.stringContaining("evil.example") });
    }
    expect(seen).toEqual([]);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`])
      expect((await raw(port, requestHead(port, "GET /api/files HTTP/1.1", { Host: host }))).status).toBe(200);
    // HTTP/1.0 has no Host: the request goes on, and the server behind judges it.
    expect((await raw(port, "GET /api/files HTTP/1.0\r\n\r\n")).status).toBe(200);
    expect(seen.map((request) => request.headers["x-forwarded-host"])).toEqual([
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `[::1]:${port}`,
      undefined,
    ]);
  });

  it("answers the names it is given in allowedHosts, and no others", async () => {
    const { port } = await startBalancer({ allowedHosts: [{ host: "lab.example" }] });
    const ask = async (host: string) => (await raw(port, requestHead(port, "GET /x HTTP/1.1", { Host: host }))).status;
    expect(await ask("lab.example:8080")).toBe(200);
    expect(await ask(`127.0.0.1:${port}`)).toBe(421);
  });

  it("keeps hop-by-hop headers to their hop: Connection, what it names, Keep-Alive, TE, Proxy-Connection", async () => {
    const { port, seen } = await startBalancer();
    const answer = await raw(
      port,
      requestHead(port, "GET /api/files HTTP/1.1", {
        Connection: "close, Cookie, X-Lab-Hop",
        Cookie: "sid=meant-for-the-balancer-only",
        "X-Lab-Hop": "1",
        "Keep-Alive": "timeout=60",
        TE: "trailers",
        "Proxy-Connection": "keep-alive",
        "X-Kept": "end to end",
      }),
    );
    expect(answer.status).toBe(200);
    const [{ headers }] = seen;
    for (const name of ["cookie", "x-lab-hop", "keep-alive", "te", "proxy-connection"])
      expect(headers[name]).toBeUndefined();
    expect(headers.connection ?? "").not.toMatch(/cookie|x-lab-hop/i);
    expect(headers["x-kept"]).toBe("end to end");
    // And the other way: the backend's own hop-by-hop header stays between it and the balancer.
    expect(answer.head).not.toMatch(/X-Backend-Hop/i);
    expect(answer.head).toMatch(/\r\nConnection: close(\r\n|$)/i);
  });

  it("replaces the client's X-Forwarded-For with the connection's address: one trusted hop", async () => {
    const { port, seen } = await startBalancer();
    await raw(
      port,
      requestHead(port, "GET /api/files HTTP/1.1", {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
        Forwarded: "for=203.0.113.9",
      }),
    );
    const [{ headers }] = seen;
    expect(headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(headers["x-forwarded-proto"]).toBe("http");
    expect(headers["x-forwarded-host"]).toBe(`127.0.0.1:${port}`);
    expect(headers.forwarded).toBeUndefined();
  });
});
