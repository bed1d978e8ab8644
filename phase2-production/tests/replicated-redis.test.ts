/**
 * @jest-environment ./test-support/machine-lock-environment.js
 * @machine-lock shared
 */
// Phase 2 on replicated Redis: a primary, two replicas and three Sentinels, all real processes.
// The server finds the primary through the Sentinels (REDIS_SENTINELS), moves on after a
// failover without a restart, answers a clear 503 while no primary is known, and with
// REDIS_WAIT_REPLICAS acknowledges a write only when a replica has it
// (docs/concepts.md, "6. Distributed sessions"; docs/api-reference.md, "Environment variables").

import { stopEverything, throwAwayDir } from "../../scripts/processes/managed-process";
import {
  ReplicatedOptions,
  ReplicatedRedis,
  startReplicatedRedis as startSet,
} from "../../scripts/processes/replicated-redis";
import { fetchJson, registerAndLogIn, untilReady } from "../../test-support/http";
import { Design, ServerProcess, startServer, stopAllServers } from "../../test-support/server-process";
import { PHASE2_DESIGNS } from "../src/operations/config";
import { freshDatabase, usePostgres } from "../../test-support/postgres";

usePostgres(); // users and files: the servers' own database; the sessions are on the replicated Redis

afterAll(async () => {
  await stopAllServers();
  await stopEverything();
});

// Each test's replicated set ends with the test: Sentinels left running would go on watching
// their old nodes' ports, and a later set that happens to reuse one of those ports would hear
// from them (a Sentinel too many, and that set never settles).
const sets: ReplicatedRedis[] = [];
afterEach(async () => {
  await stopAllServers();
  for (const set of sets.splice(0)) await set.end();
});
async function startReplicatedRedis(options: ReplicatedOptions): Promise<ReplicatedRedis> {
  const set = await startSet(options);
  sets.push(set);
  return set;
}

async function onSentinels(
  sentinels: string,
  env: Record<string, string> = {},
  design: Design = "redis-session",
): Promise<ServerProcess> {
  return startServer(design, {
    env: {
      REDIS_SENTINELS: sentinels,
      DATABASE_URL: await freshDatabase(),
      KEY_PREFIX: "replicated:",
      LOG_LEVEL: "info",
      ...env,
    },
  });
}

function upload(server: ServerProcess, cookie: string, name: string) {
  return fetchJson(`${server.url}/api/upload`, {
    method: "POST",
    headers: { Cookie: cookie, "Idempotency-Key": name },
    json: { filename: `${name}.txt`, content: name },
  });
}

describe("a phase-2 server on replicated Redis", () => {
  it("serves every design's whole workflow, its sessions through the Sentinels' primary and its users and files in PostgreSQL", async () => {
    const redis = await startReplicatedRedis({ dir: throwAwayDir("lab-replicated-") });
    for (const design of PHASE2_DESIGNS) {
      const server = await onSentinels(redis.sentinelList, {}, design);
      await untilReady(server);
      const user = { username: `alice-${design}`, password: "password-one" };
      const at = (route: string) => `${server.url}${route}`;
      expect((await fetchJson(at("/api/users"), { method: "POST", json: user })).status).toBe(201);
      const login = await fetchJson(at("/api/login"), { method: "POST", json: user });
      expect(login.status).toBe(200);
      const proof: Record<string, string> =
        design === "jwt"
          ? { Authorization: `Bearer ${login.body.token}` }
          : { Cookie: login.headers.getSetCookie()[0].split(";")[0] };
      const upload = await fetchJson(at("/api/upload"), {
        method: "POST",
        headers: proof,
        json: { filename: "notes.txt", content: design },
      });
      expect({ design, status: upload.status }).toEqual({ design, status: 201 });
      const listed = await fetchJson(at("/api/files"), { headers: proof });
      expect(listed.body.files.map((file: { filename: string }) => file.filename)).toEqual(["notes.txt"]);
      expect((await fetchJson(at(`/api/files/${upload.body.file_id}`), { headers: proof })).body.content).toBe(design);
      if (design !== "jwt")
        expect((await fetchJson(at("/api/session"), { headers: proof })).body.files_uploaded).toEqual([
          upload.body.file_id,
        ]);
      expect((await fetchJson(at("/api/logout"), { method: "POST", headers: proof })).status).toBe(200);
      expect((await fetchJson(at("/api/files"), { headers: proof })).status).toBe(401);
      await stopAllServers();
    }
  }, 90_000);

  it("keeps a session and an upload across a SIGKILL of the primary, without a restart", async () => {
    const redis = await startReplicatedRedis({ dir: throwAwayDir("lab-replicated-") });
    const server = await onSentinels(redis.sentinelList);
    await untilReady(server);
    const cookie = await registerAndLogIn(server, "survivor");
    const before = await upload(server, cookie, "before");
    expect(before.status).toBe(201);
    expect(before.headers.get("X-Store-Node")).toMatch(/^127\.0\.0\.1:\d+$/);
    // What a crash keeps is what reached a replica: wait for them (asynchronous replication
    // usually takes well under a millisecond; on a busy machine a write can still be in flight).
    expect(await redis.replicasCaughtUp()).toBe(true);

    const old = await redis.agreedPrimary();
    await old?.kill();
    const promoted = await redis.waitForNewPrimary(old!);
    await untilReady(server);

    const view = await fetchJson(`${server.url}/api/session`, { headers: { Cookie: cookie } });
    expect(view.status).toBe(200);
    expect(view.body.files_uploaded).toEqual([before.body.file_id]);
    const after = await upload(server, cookie, "after");
    expect(after.status).toBe(201);
    expect(after.headers.get("X-Store-Node")).toBe(`127.0.0.1:${promoted.port}`);
  }, 60_000);

  it("elects a new primary with one Sentinel of three gone: a quorum of 2 still holds", async () => {
    const redis = await startReplicatedRedis({ dir: throwAwayDir("lab-replicated-") });
    await redis.sentinels[0].kill();
    const old = await redis.agreedPrimary();
    await old?.kill();
    const promoted = await redis.waitForNewPrimary(old!);
    expect(promoted).not.toBe(old);
  }, 60_000);

  it("keeps serving writes when a replica dies", async () => {
    const redis = await startReplicatedRedis({ dir: throwAwayDir("lab-replicated-") });
    const server = await onSentinels(redis.sentinelList);
    await untilReady(server);
    const cookie = await registerAndLogIn(server, "replica-gone");
    await redis.nodes[1].kill();
    expect((await upload(server, cookie, "one-replica-left")).status).toBe(201);
  }, 60_000);

  it("with REDIS_WAIT_REPLICAS=1, answers 503 and acknowledges nothing once no replica is left", async () => {
    const redis = await startReplicatedRedis({ dir: throwAwayDir("lab-replicated-") });
    // 500 ms for a healthy replica to confirm, so that a busy machine is not read as a missing replica (a 503).
    const server = await onSentinels(redis.sentinelList, { REDIS_WAIT_REPLICAS: "1", REDIS_WAIT_MS: "500" });
    await untilReady(server);
    const cookie = await registerAndLogIn(server, "waiter");
    expect((await upload(server, cookie, "confirmed")).status).toBe(201);
    await Promise.all(redis.nodes.slice(1).map((replica) => replica.kill()));
    const started = Date.now();
    const refused = await upload(server, cookie, "unconfirmed");
    expect(refused.status).toBe(503);
    expect(refused.body.error).toBe("store_unavailable");
    expect(Date.now() - started).toBeLessThan(2500); // at most the request's WAITs (500 ms each), never a hang
    // The client hears only "unavailable"; the server's log says why.
    for (let waited = 0; !server.output().includes("replica(s) confirmed the write") && waited < 2000; waited += 100)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.output()).toContain("0 of 1 replica(s) confirmed the write within 500 ms");
  }, 60_000);
});

describe("a phase-2 server that cannot find a primary", () => {
  it("answers 503 store_unavailable at once, never 401, when the Sentinels monitor no such name; /ready and the log say which name", async () => {
    const redis = await startReplicatedRedis({ dir: throwAwayDir("lab-replicated-") });
    const server = await onSentinels(redis.sentinelList, { REDIS_MASTER_NAME: "nosuch" });
    const started = Date.now();
    const login = await fetchJson(`${server.url}/api/login`, {
      method: "POST",
      json: { username: "nobody", password: "password-ok" },
    });
    expect(login.status).toBe(503);
    expect(login.body.error).toBe("store_unavailable");
    expect(Date.now() - started).toBeLessThan(1000);
    const ready = await fetchJson(`${server.url}/ready`);
    expect(ready.status).toBe(503);
    expect(ready.body.message).toContain('the primary of "nosuch"');
    for (let waited = 0; !server.output().includes('no primary named \\"nosuch\\"') && waited < 5000; waited += 100)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.output()).toContain("No such master with that name");
  }, 60_000);

  it("answers 503 store_unavailable at once when no Sentinel answers", async () => {
    const server = await onSentinels("127.0.0.1:1,127.0.0.1:2");
    const started = Date.now();
    const register = await fetchJson(`${server.url}/api/users`, {
      method: "POST",
      json: { username: "nobody", password: "password-ok" },
    });
    expect(register.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await fetchJson(`${server.url}/ready`)).body.message).toContain(
      "waiting for the Sentinels at 127.0.0.1:1,127.0.0.1:2",
    );
  }, 30_000);
});
