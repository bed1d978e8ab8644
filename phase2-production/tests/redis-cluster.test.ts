// Phase 2 on a Redis Cluster (REDIS_CLUSTER_NODES): three primaries and three replicas, six real
// `redis-server --cluster-enabled yes` processes joined by `redis-cli --cluster create`. A
// Cluster refuses a command that names keys of two hash slots (CROSSSLOT): the old key layout, with
// the user outside a hash tag (`file:<user>:<id>` beside `files:<user>`), is refused by the real
// Cluster, and the layout with the user in a hash tag (`file:{<user>}:<id>`) works, for every design, end to end
// (docs/concepts.md, "How far one Redis goes, then the database, and a Cluster").

import request from "supertest";
import { Cluster } from "ioredis";
import { closeAllApps, connected, phase2App } from "../../test-support/phase2-apps";
import { usePostgres } from "../../test-support/postgres";
import { stopEverything, throwAwayDir } from "../../scripts/processes/managed-process";
import { RedisCluster, startRedisCluster } from "../../scripts/processes/redis-cluster";
import { ask } from "../../scripts/processes/replicated-redis";
import { loadPhase2Config, PHASE2_DESIGNS } from "../src/operations/config";

usePostgres(); // the apps' users and files; this file starts its own Redis

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster({ dir: throwAwayDir("lab-cluster-") });
}, 40_000);
afterAll(async () => {
  await closeAllApps();
  await stopEverything();
});

const nodes = () => cluster.nodes.map((node) => ({ host: "127.0.0.1", port: node.port }));
/** An app of `design` on the Cluster: with clusterNodes given, the URL (a closed port) is never used. */
const clusterApp = (design: (typeof PHASE2_DESIGNS)[number], overrides: { rateLimitPerMinute?: number } = {}) =>
  phase2App(design, "redis://127.0.0.1:1", {
    ...overrides,
    redis: {
      url: "redis://127.0.0.1:1",
      clusterNodes: nodes(),
      masterName: "lab",
      failoverDetector: false,
      waitReplicas: 0,
      waitMs: 100,
    },
  });

describe("a Redis Cluster of three primaries, each with a replica", () => {
  it("splits the 16384 slots between three primaries", async () => {
    expect(await cluster.primaries()).toHaveLength(3);
    const slots = (await ask(cluster.nodes[0].port, "CLUSTER", "SLOTS")) as Array<[number, number]>;
    expect(slots.reduce((sum, [from, to]) => sum + to - from + 1, 0)).toBe(16384);
  });

  it("refuses a multi-key command over one session's keys without a hash tag (CROSSSLOT), and takes the hash-tagged one", async () => {
    const port = cluster.nodes[0].port;
    // atomic-session's MULTI names the session's record, its fields and its set of uploads.
    const crossslot = /^CROSSSLOT/;
    const untagged = ["lab:sess:s1", "lab:sessfields:lab:sess:s1", "lab:sessfiles:lab:sess:s1"];
    await expect(ask(port, "EVAL", "return 1", 3, ...untagged)).rejects.toThrow(crossslot);
    // With `{lab:sess:s1}` only the record's own key is hashed: one slot (the node that owns it answers).
    const tagged = ["lab:sess:s1", "lab:sessfields:{lab:sess:s1}", "lab:sessfiles:{lab:sess:s1}"];
    const slot = Number(await ask(port, "CLUSTER", "KEYSLOT", tagged[0]));
    for (const key of tagged) expect(Number(await ask(port, "CLUSTER", "KEYSLOT", key))).toBe(slot);
    const client = new Cluster(nodes(), { redisOptions: { maxRetriesPerRequest: 0 } });
    try {
      expect(await client.eval("return #KEYS", 3, ...tagged)).toBe(3);
    } finally {
      client.disconnect();
    }
  });
});

describe.each(PHASE2_DESIGNS)("the %s design on the Cluster", (design) => {
  it("serves the whole workflow: register, log in, upload, list, read, session view, delete, log out", async () => {
    const { app, client } = await connected(clusterApp(design));
    expect(client).toBeInstanceOf(Cluster);
    const agent = request.agent(app);
    const user = { username: `alice-${design}`, password: "password-one" };
    expect((await agent.post("/api/users").send(user)).status).toBe(201);
    const login = await agent.post("/api/login").send(user);
    expect(login.status).toBe(200);
    const auth: Record<string, string> = login.body.token ? { Authorization: `Bearer ${login.body.token}` } : {};
    const upload = await agent
      .post("/api/upload")
      .set(auth)
      .set("Idempotency-Key", "k1")
      .send({ filename: "a.txt", content: "hello" });
    expect(upload.status).toBe(201);
    expect(
      (
        await agent
          .post("/api/upload")
          .set(auth)
          .set("Idempotency-Key", "k1")
          .send({ filename: "a.txt", content: "hello" })
      ).status,
    ).toBe(200); // the replay
    const second = await agent.post("/api/upload").set(auth).send({ filename: "b.txt", content: "world" });
    expect(second.status).toBe(201);
    const list = await agent.get("/api/files").set(auth);
    expect(list.body.files.map((file: { filename: string }) => file.filename)).toEqual(["a.txt", "b.txt"]);
    expect((await agent.get(upload.body.url).set(auth)).body.content).toBe("hello");
    if (design !== "jwt") {
      const view = await agent.get("/api/session").set(auth);
      expect(view.status).toBe(200);
      expect(view.body.files_uploaded).toEqual([upload.body.file_id, second.body.file_id]);
    }
    expect((await agent.delete(upload.body.url).set(auth)).status).toBe(200);
    expect((await agent.get("/api/files").set(auth)).body.files).toHaveLength(1);
    expect((await agent.post("/api/logout").set(auth)).status).toBe(200);
    expect((await agent.get("/api/files").set(auth)).status).toBe(401);
  });
});

describe("the login rate limit on the Cluster", () => {
  it("counts in the Cluster: its script is loaded on every primary, wherever the counter's slot is", async () => {
    const { app } = await connected(clusterApp("redis-session", { rateLimitPerMinute: 3 }));
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1)
      statuses.push(
        (await request(app).post("/api/login").send({ username: "nobody-here", password: "password-one" })).status,
      );
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
  });
});

describe("REDIS_CLUSTER_NODES", () => {
  const env = { SESSION_SECRET: "x".repeat(32), DATABASE_URL: "postgres://lab@127.0.0.1:5432/lab" };
  it.each([
    ["", /REDIS_CLUSTER_NODES must be a comma-separated list of host:port/],
    ["127.0.0.1", /REDIS_CLUSTER_NODES must be a comma-separated list of host:port .*"127\.0\.0\.1" is not/],
    ["127.0.0.1:0", /is not/],
    ["127.0.0.1:7000,:7001", /is not/],
  ])("refuses %j with one line", (value, message) => {
    expect(() => loadPhase2Config({ ...env, REDIS_CLUSTER_NODES: value }, "redis-session")).toThrow(message);
  });

  it("refuses REDIS_SENTINELS beside it, and REDIS_WAIT_REPLICAS", () => {
    expect(() =>
      loadPhase2Config(
        { ...env, REDIS_CLUSTER_NODES: "127.0.0.1:7000", REDIS_SENTINELS: "127.0.0.1:26379" },
        "redis-session",
      ),
    ).toThrow(/cannot be set with REDIS_SENTINELS/);
    expect(() =>
      loadPhase2Config({ ...env, REDIS_CLUSTER_NODES: "127.0.0.1:7000", REDIS_WAIT_REPLICAS: "1" }, "redis-session"),
    ).toThrow(/REDIS_WAIT_REPLICAS must be 0 with REDIS_CLUSTER_NODES/);
  });

  it("reads a list of seed nodes", () => {
    expect(
      loadPhase2Config({ ...env, REDIS_CLUSTER_NODES: "127.0.0.1:7000, localhost:7001" }, "redis-session").redis
        .clusterNodes,
    ).toEqual([
      { host: "127.0.0.1", port: 7000 },
      { host: "localhost", port: 7001 },
    ]);
  });
});
