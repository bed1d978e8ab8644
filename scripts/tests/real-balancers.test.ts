// The same topologies through nginx and HAProxy (npm run setup installs both): round-robin
// spreads, sticky sticks, and a killed backend's clients move to another backend. And the
// example configurations in phase2-production/balancers/ are exactly what the lab generates
// (docs/how-the-lab-works.md, "The balancers").

import http from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT } from "../processes/run-dir";
import {
  findBalancer,
  haproxyConfig,
  nginxConfig,
  RealBalancerProcess,
  startRealBalancer,
} from "../processes/nginx-haproxy";
import { EXAMPLE_BACKENDS, EXAMPLE_DIR, EXAMPLE_PORT } from "../processes/write-balancer-examples";

const scratch = mkdtempSync(path.join(os.tmpdir(), "real-lb-"));
const servers: http.Server[] = [];
const balancers: RealBalancerProcess[] = [];
afterAll(async () => {
  await Promise.all(balancers.map((balancer) => balancer.stop()));
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  rmSync(scratch, { recursive: true, force: true });
});

async function backend(id: string): Promise<{ id: string; url: string; server: http.Server }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () =>
      res.writeHead(200, { "Content-Type": "application/json", "X-Served-By": id }).end(JSON.stringify({ id })),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { id, url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, server };
}

/** Asks through the balancer, keeping the cookies a browser would keep. */
async function ask(url: string, jar: Map<string, string>) {
  const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
  const send = () =>
    fetch(`${url}/x`, {
      method: "POST",
      body: "{}",
      headers: { "Content-Type": "application/json", ...(cookie ? { Cookie: cookie } : {}) },
    });
  // Like any client, try once more when a kept-alive connection was closed under the request.
  const response = await send().catch(send);
  for (const header of response.headers.getSetCookie()) {
    const [pair] = header.split(";");
    const eq = pair.indexOf("=");
    jar.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return ((await response.json()) as { id: string }).id;
}

describe.each(["nginx", "haproxy"] as const)("%s in front of three backends", (name) => {
  const installed = findBalancer(name) !== null;
  // npm run setup installs both, so CI has them; on a student's machine without them, say so.
  const maybe = installed ? it : it.skip;

  maybe("spreads requests with round-robin", async () => {
    const backends = await Promise.all(["a", "b", "c"].map(backend));
    const lb = await startRealBalancer(name, backends, "round-robin", path.join(scratch, `${name}-rr`));
    balancers.push(lb);
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i += 1) {
      const id = await ask(lb.url, new Map());
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(["a", "b", "c"]);
    for (const count of counts.values()) expect(count).toBeGreaterThanOrEqual(5);
  });

  maybe("keeps a sticky client on one backend, and moves it when that backend dies", async () => {
    const backends = await Promise.all(["a", "b", "c"].map(backend));
    const lb = await startRealBalancer(name, backends, "sticky", path.join(scratch, `${name}-sticky`));
    balancers.push(lb);
    const jars = Array.from({ length: 6 }, () => new Map<string, string>());
    const pinned = await Promise.all(jars.map((jar) => ask(lb.url, jar)));
    for (let round = 0; round < 5; round += 1) {
      expect(await Promise.all(jars.map((jar) => ask(lb.url, jar)))).toEqual(pinned);
    }
    const victim = backends.find((candidate) => candidate.id === pinned[0]) as (typeof backends)[number];
    victim.server.closeAllConnections();
    await new Promise((resolve) => victim.server.close(resolve));
    const moved = await ask(lb.url, jars[0]);
    expect(moved).not.toBe(victim.id);
    expect(await ask(lb.url, jars[0])).not.toBe(victim.id);
  });
});

describe("the example configurations in phase2-production/balancers/", () => {
  it.each([
    ["nginx-round-robin.conf", () => nginxConfig(EXAMPLE_BACKENDS, "round-robin", EXAMPLE_PORT, EXAMPLE_DIR, false)],
    ["nginx-sticky.conf", () => nginxConfig(EXAMPLE_BACKENDS, "sticky", EXAMPLE_PORT, EXAMPLE_DIR, false)],
    ["haproxy-round-robin.cfg", () => haproxyConfig(EXAMPLE_BACKENDS, "round-robin", EXAMPLE_PORT)],
    ["haproxy-sticky.cfg", () => haproxyConfig(EXAMPLE_BACKENDS, "sticky", EXAMPLE_PORT)],
  ])(
    "%s is what the lab generates (npm run build && node dist/scripts/processes/write-balancer-examples.js rewrites them)",
    (file, generate) => {
      expect(readFileSync(path.join(REPO_ROOT, "phase2-production", "balancers", file), "utf8")).toBe(generate());
    },
  );
});
