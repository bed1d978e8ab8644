// The built-in balancer on its own, with small real backends on loopback: it spreads, it
// sticks, it retries a refused connection on the next backend (POST body included), it
// re-pins a sticky client whose backend died, and it answers 502 only after trying them all
// (docs/how-the-lab-works.md, "The balancers").

import http from "node:http";
import net from "node:net";
import { Balancer, STICKY_COOKIE } from "../processes/builtin-balancer";

const servers: http.Server[] = [];
const balancers: Balancer[] = [];
afterEach(async () => {
  await Promise.all(balancers.splice(0).map((balancer) => balancer.stop()));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** A backend that names itself and echoes the request body. */
async function backend(id: string): Promise<{ id: string; url: string; server: http.Server }> {
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      res.setHeader("Set-Cookie", "sid=from-backend; Path=/");
      const framing = {
        length: req.headers["content-length"] ?? null,
        chunked: req.headers["transfer-encoding"] === "chunked",
      };
      res
        .writeHead(200, { "Content-Type": "application/json", "X-Served-By": id })
        .end(JSON.stringify({ id, body, framing }));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { id, url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, server };
}

/** A loopback URL where nothing listens: connections are refused. */
async function refusing(id: string): Promise<{ id: string; url: string }> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return { id, url: `http://127.0.0.1:${port}` };
}

async function start(
  backends: Array<{ id: string; url: string }>,
  strategy: "round-robin" | "sticky",
): Promise<{ url: string; balancer: Balancer }> {
  const balancer = new Balancer(backends, strategy);
  balancers.push(balancer);
  return { url: `http://127.0.0.1:${await balancer.listen()}`, balancer };
}

async function ask(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  const text = await response.text();
  return {
    status: response.status,
    body: text ? JSON.parse(text) : undefined,
    cookies: response.headers.getSetCookie(),
  };
}

function stickyCookie(cookies: string[]): string | undefined {
  return cookies.map((cookie) => cookie.split(";")[0]).find((pair) => pair.startsWith(`${STICKY_COOKIE}=`));
}

describe("the built-in balancer", () => {
  it("spreads requests evenly with round-robin", async () => {
    const backends = await Promise.all(["a", "b", "c"].map(backend));
    const { url, balancer } = await start(backends, "round-robin");
    const served: string[] = [];
    for (let i = 0; i < 30; i += 1) served.push((await ask(`${url}/x`)).body.id);
    for (const id of ["a", "b", "c"]) expect(served.filter((s) => s === id)).toHaveLength(10);
    expect(balancer.status().backends.map((b) => b.served)).toEqual([10, 10, 10]);
  });

  it("keeps a sticky client on one backend, appending its cookie to the backend's own", async () => {
    const backends = await Promise.all(["a", "b", "c"].map(backend));
    const { url } = await start(backends, "sticky");
    const first = await ask(`${url}/x`);
    expect(first.cookies.some((cookie) => cookie.startsWith("sid=from-backend"))).toBe(true);
    const pin = stickyCookie(first.cookies);
    expect(pin).toBe(`${STICKY_COOKIE}=${first.body.id}`);
    for (let i = 0; i < 10; i += 1) {
      const next = await ask(`${url}/x`, { headers: { Cookie: `sid=x; ${pin}` } });
      expect(next.body.id).toBe(first.body.id);
      expect(stickyCookie(next.cookies)).toBeUndefined(); // already pinned: no new cookie
    }
  });

  it("retries a refused connection on the next backend, POST body included, and marks it down", async () => {
    const dead = await refusing("dead");
    const alive = await backend("alive");
    const { url, balancer } = await start([dead, alive], "round-robin");
    for (let i = 0; i < 4; i += 1) {
      const answer = await ask(`${url}/upload`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: `{"n":${i}}`,
      });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ id: "alive", body: `{"n":${i}}` });
    }
    const status = balancer.status();
    expect(status.backends).toEqual([
      { id: "dead", url: dead.url, up: false, served: 0 },
      { id: "alive", url: alive.url, up: true, served: 4 },
    ]);
    const overHttp = await ask(`${url}/__lb/status`);
    expect(overHttp.body.backends[0]).toMatchObject({ id: "dead", up: false });
  });

  it("sends a POST with no body on as Content-Length: 0, never as an empty chunked body (which a server refuses as not JSON)", async () => {
    const one = await backend("one");
    const { url } = await start([one], "round-robin");
    const answer = await new Promise<{ framing: unknown }>((resolve, reject) => {
      // A logout as curl and the lab's users send it: POST, no body, no Content-Length.
      const req = http.request(`${url}/api/logout`, { method: "POST" }, (res) => {
        let text = "";
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => resolve(JSON.parse(text)));
      });
      req.on("error", reject);
      req.end();
    });
    expect(answer.framing).toEqual({ length: "0", chunked: false });
  });

  it("re-pins a sticky client whose backend died, with a new cookie", async () => {
    const [a, b] = await Promise.all(["a", "b"].map(backend));
    const { url } = await start([a, b], "sticky");
    const first = await ask(`${url}/x`);
    const pinned = first.body.id as string;
    const victim = pinned === "a" ? a : b;
    victim.server.closeAllConnections();
    await new Promise((resolve) => victim.server.close(resolve));
    const moved = await ask(`${url}/x`, {
      method: "POST",
      body: "keep me",
      headers: { Cookie: stickyCookie(first.cookies) as string },
    });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ id: pinned === "a" ? "b" : "a", body: "keep me" });
    expect(stickyCookie(moved.cookies)).toBe(`${STICKY_COOKIE}=${moved.body.id}`);
  });

  it("answers 502 when every backend refuses, after trying each one", async () => {
    const backends = await Promise.all(["x", "y", "z"].map(refusing));
    const { url, balancer } = await start(backends, "round-robin");
    const answer = await ask(`${url}/x`);
    expect(answer.status).toBe(502);
    expect(answer.body.error).toBe("bad_gateway");
    expect(balancer.status().backends.every((b) => !b.up)).toBe(true); // each was tried, and each refused
    expect((await ask(`${url}/x`)).status).toBe(502); // marked down, still tried in turn
  });
});
