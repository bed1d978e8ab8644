// One trusted hop, through every balancer of the lab (docs/api-reference.md, "What the servers
// defend against"): each balancer writes the connection's address into X-Forwarded-For,
// replacing whatever the client wrote, and the servers believe exactly that one entry
// (TRUST_PROXY_HOPS=1). So a client that rotates the header through the built-in balancer, nginx
// or HAProxy is still one address to the login limit: of 45 logins to 45 accounts, the 15 past
// the limit of 30 a minute answer 429. And a Host the servers were not told answers 421. And
// the classroom stacks, which raise the per-address limit for a room behind one address, keep
// the per-account limit at 30 a minute.

import http from "node:http";
import path from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { Balancer } from "../processes/builtin-balancer";
import { findBalancer, RealBalancerProcess, startRealBalancer } from "../processes/nginx-haproxy";
import { Stack, startStack } from "../processes/stack";
import { freshDatabase, useStores, TEST_SECRET } from "../../test-support/phase2-apps";
import { startServer, ServerProcess } from "../../test-support/server-process";
import { untilReady } from "../../test-support/http";

const redisProcess = useStores();
const scratch = mkdtempSync(path.join(os.tmpdir(), "one-hop-"));
const builtins: Balancer[] = [];
const stacks: Stack[] = [];
const real: RealBalancerProcess[] = [];
afterAll(async () => {
  await Promise.all([
    ...builtins.map((balancer) => balancer.stop()),
    ...real.map((balancer) => balancer.stop()),
    ...stacks.map((stack) => stack.stop()),
  ]);
  rmSync(scratch, { recursive: true, force: true });
});

/** Two phase-2 instances with the default login limit (30 a minute), told that one balancer stands in front. */
async function instances(prefix: string): Promise<ServerProcess[]> {
  const env = {
    REDIS_URL: redisProcess().url,
    DATABASE_URL: await freshDatabase(),
    KEY_PREFIX: `${prefix}:`,
    SESSION_SECRET: TEST_SECRET,
    PASSWORD_HASH_COST: "4",
    TRUST_PROXY_HOPS: "1",
    RATE_LIMIT_PER_MINUTE: "30", // the default, which the tests' servers otherwise raise
    LOG_LEVEL: "warn",
  };
  const started = await Promise.all([1, 2].map(() => startServer("redis-session", { env })));
  await Promise.all(started.map((server) => untilReady(server)));
  return started;
}

async function balancerUrl(kind: "builtin" | "nginx" | "haproxy", servers: ServerProcess[]): Promise<string> {
  const backends = servers.map((server, i) => ({ id: `instance-${i + 1}`, url: server.url }));
  if (kind === "builtin") {
    const balancer = new Balancer(backends, "round-robin");
    builtins.push(balancer);
    return `http://127.0.0.1:${await balancer.listen()}`;
  }
  const balancer = await startRealBalancer(kind, backends, "round-robin", path.join(scratch, kind));
  real.push(balancer);
  return balancer.url;
}

/** 45 logins, each to another account and each claiming another address. */
async function rotatingLogins(url: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 1; i <= 45; i += 1) {
    const answer = await fetch(`${url}/api/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Forwarded-For": `203.0.113.${i}, 198.51.100.${i}` },
      body: JSON.stringify({ username: `guess${i}`, password: "wrong-password" }),
    });
    await answer.arrayBuffer();
    statuses.push(answer.status);
  }
  return statuses;
}

describe.each(["builtin", "nginx", "haproxy"] as const)("through the %s balancer", (kind) => {
  const maybe = kind === "builtin" || findBalancer(kind) !== null ? it : it.skip;

  maybe(
    "a client rotating X-Forwarded-For is one address: 30 logins answer 401, the 15 after them 429",
    async () => {
      const url = await balancerUrl(kind, await instances(`hop-${kind}`));
      const statuses = await rotatingLogins(url);
      // Before, every login counted for the address the client wrote: 45 x 401, never a 429.
      expect(statuses.slice(0, 30)).toEqual(Array(30).fill(401));
      expect(statuses.slice(30)).toEqual(Array(15).fill(429));
    },
    60_000,
  );

  maybe(
    "a Host the servers were not told answers 421 misdirected_request, and theirs is served",
    async () => {
      const url = await balancerUrl(kind, await instances(`host-${kind}`));
      const { port } = new URL(url);
      // fetch() will not send another Host: ask with node:http.
      const ask = (host: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = http.get({ host: "127.0.0.1", port, path: "/health", headers: { Host: host } }, (res) => {
            let body = "";
            res.on("data", (chunk) => (body += chunk));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on("error", reject);
        });
      const evil = await ask("evil.example");
      expect(evil.status).toBe(421);
      expect(JSON.parse(evil.body).error).toBe("misdirected_request");
      expect((await ask(`localhost:${port}`)).status).toBe(200);
      expect((await ask(`127.0.0.1:${port}`)).status).toBe(200);
    },
    60_000,
  );
});

describe("the classroom stacks (npm run cluster, the live view, the demos)", () => {
  it("keep the per-account limit: after 29 wrong passwords on one account, even the right one answers 429", async () => {
    const stack = await startStack({ design: "redis-session", instances: 2, balancer: "round-robin", classroom: true });
    stacks.push(stack);
    const login = async (password: string) => {
      const answer = await fetch(`${stack.url}/api/login`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: "victim", password }),
      });
      await answer.arrayBuffer();
      return answer.status;
    };
    const registered = await fetch(`${stack.url}/api/users`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "victim", password: "the-right-password" }),
    });
    expect(registered.status).toBe(201);
    const wrong: number[] = [];
    for (let i = 0; i < 35; i += 1) wrong.push(await login(`wrong-password-${i}`));
    // Before, the classroom stacks ran with 1,000,000 a minute for both: 60 wrong, then 200.
    expect(wrong).toEqual([...Array(29).fill(401), ...Array(6).fill(429)]);
    expect(await login("the-right-password")).toBe(429);
  }, 60_000);
});
