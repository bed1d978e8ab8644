// Redis as the new single point of failure. Restarted without persistence it forgets the
// sessions (the users and files are in PostgreSQL, untouched); with `appendonly yes` it keeps
// them. Killed, it makes every
// request that needs it answer 503 store_unavailable at once (never a hang, never a 401),
// and when it returns, service resumes without restarting the app.
// Explained in docs/labs/04-redis-single-point-of-failure.md.

import request from "supertest";
import { fetchJson } from "../../test-support/http";
import { startServer, stopAllServers } from "../../test-support/server-process";
import { stopEverything } from "../../scripts/processes/managed-process";
import { startRedis } from "../../scripts/processes/redis";
import { Phase2App } from "../src/app";
import { Phase2Design } from "../src/operations/config";
import { closeAllApps, connected, freshDatabase, phase2App } from "../../test-support/phase2-apps";
import { usePostgres } from "../../test-support/postgres";

usePostgres(); // the apps' users and files; this file starts its own Redis

afterAll(async () => {
  await stopAllServers();
  await closeAllApps();
  await stopEverything();
});

const credentials = { username: "oscar", password: "password-ok" };

async function waitUntilReady(app: Phase2App): Promise<void> {
  for (let tries = 0; (await request(app.app).get("/ready")).status !== 200; tries += 1) {
    if (tries > 200) throw new Error("the app never became ready again");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Logs in as the design expects; returns the headers that prove who the client is. */
async function logIn(app: Phase2App, design: Phase2Design): Promise<Record<string, string>> {
  const login = await request(app.app).post("/api/login").send(credentials);
  expect(login.status).toBe(200);
  return design === "jwt"
    ? { Authorization: `Bearer ${login.body.token}` }
    : { Cookie: String(login.headers["set-cookie"]).split(";")[0] };
}

describe.each([
  ["without persistence", false],
  ["with appendonly yes", true],
] as const)("Redis restarted %s", (_label, appendonly) => {
  it(
    appendonly ? "keeps sessions, users and files" : "forgets sessions, and keeps users and files (in PostgreSQL)",
    async () => {
      const redis = await startRedis({ appendonly });
      const app = await connected(phase2App("redis-session", redis.url));
      await request(app.app).post("/api/users").send(credentials);
      const auth = await logIn(app, "redis-session");
      const upload = await request(app.app)
        .post("/api/upload")
        .set(auth)
        .send({ filename: "kept.txt", content: "in PostgreSQL" });
      expect(upload.status).toBe(201);

      await redis.stop(); // SIGTERM: with appendonly, Redis flushes its log before it exits
      await redis.start();
      await waitUntilReady(app);

      const view = await request(app.app).get("/api/session").set(auth);
      const login = await request(app.app).post("/api/login").send(credentials);
      if (appendonly) {
        expect(view.status).toBe(200);
        expect(view.body.files_uploaded).toEqual([upload.body.file_id]);
        expect(login.status).toBe(200);
        expect((await request(app.app).get(upload.body.url).set(auth)).body.content).toBe("in PostgreSQL");
      } else {
        expect(view.status).toBe(401);
        expect(view.body.error).toBe("session_not_found");
        // The session store lost the sessions; the database lost nothing: log in again, and the file is there.
        expect(login.status).toBe(200);
        const again = { Cookie: String(login.headers["set-cookie"]).split(";")[0] };
        expect((await request(app.app).get(upload.body.url).set(again)).body.content).toBe("in PostgreSQL");
      }
    },
  );
});

describe("what each design loses when Redis restarts without persistence", () => {
  async function setUp(design: Phase2Design) {
    const redis = await startRedis();
    const app = await connected(phase2App(design, redis.url));
    await request(app.app).post("/api/users").send(credentials);
    const auth = await logIn(app, design);
    const upload = await request(app.app).post("/api/upload").set(auth).send({ filename: "x.txt", content: "x" });
    expect(upload.status).toBe(201);
    const restart = async () => {
      await redis.stop();
      await redis.start();
      await waitUntilReady(app);
    };
    return { app, auth, upload, restart };
  }

  // memory-session never kept its sessions in Redis; cached-session still has them in its cache.
  // Neither ever kept its files there: they are in PostgreSQL.
  it.each(["memory-session", "cached-session"] as const)(
    "%s still serves its sessions from process memory, and the files from PostgreSQL",
    async (design) => {
      const { app, auth, upload, restart } = await setUp(design);
      await restart();
      const view = await request(app.app).get("/api/session").set(auth);
      expect(view.status).toBe(200);
      expect(view.body.files_uploaded).toEqual([upload.body.file_id]);
      const files = (await request(app.app).get("/api/files").set(auth)).body.files as Array<{ file_id: string }>;
      expect(files.map((file) => file.file_id)).toEqual([upload.body.file_id]);
    },
  );

  it("jwt accepts a logged-out token again: the deny-list is gone", async () => {
    const { app, auth, restart } = await setUp("jwt");
    expect((await request(app.app).post("/api/logout").set(auth)).status).toBe(200);
    expect((await request(app.app).get("/api/files").set(auth)).body.error).toBe("token_revoked");
    await restart();
    expect((await request(app.app).get("/api/files").set(auth)).status).toBe(200);
  });
});

describe.each(["redis-session", "cached-session", "jwt"] as const)("the %s design while Redis is down", (design) => {
  it("answers 503 store_unavailable at once, reports not ready, and recovers by itself", async () => {
    const redis = await startRedis({ appendonly: true });
    const app = await connected(phase2App(design, redis.url));
    await request(app.app).post("/api/users").send(credentials);
    const auth = await logIn(app, design);
    expect((await request(app.app).get("/api/files").set(auth)).status).toBe(200);

    await redis.kill();
    const requests = [
      request(app.app).get("/api/files").set(auth),
      request(app.app).post("/api/upload").set(auth).send({ filename: "during.txt", content: "outage" }),
      request(app.app).post("/api/login").send(credentials),
      request(app.app).post("/api/users").send({ username: "newcomer", password: "password-ok" }),
    ];
    const started = Date.now();
    const answers = await Promise.all(requests);
    // Completes, with a generous bound: how fast belongs in the lab's figures, not here.
    expect(Date.now() - started).toBeLessThan(5000);
    for (const answer of answers) {
      expect(answer.status).toBe(503);
      expect(answer.body.error).toBe("store_unavailable");
      expect(answer.headers["retry-after"]).toBe("1");
    }
    const ready = await request(app.app).get("/ready");
    expect(ready.status).toBe(503);
    expect(ready.body.error).toBe("store_unavailable");
    expect((await request(app.app).get("/health")).status).toBe(200); // the process itself is fine

    await redis.start();
    await waitUntilReady(app);
    const after = await request(app.app).post("/api/login").send(credentials);
    expect(after.status).toBe(200);
    const fresh = await logIn(app, design);
    expect((await request(app.app).get("/api/files").set(fresh)).status).toBe(200);
  });
});

describe("the memory-session design while Redis is down", () => {
  it("keeps serving its sessions and files, and answers 503 store_unavailable only where the login limit counts", async () => {
    const redis = await startRedis({ appendonly: true });
    const app = await connected(phase2App("memory-session", redis.url));
    await request(app.app).post("/api/users").send(credentials);
    const auth = await logIn(app, "memory-session");

    await redis.kill();
    // Its sessions are in the instance and its users and files in PostgreSQL: Redis holds only
    // the login limit's counters, which a login and a sign-up need.
    expect((await request(app.app).get("/api/files").set(auth)).status).toBe(200);
    expect(
      (await request(app.app).post("/api/upload").set(auth).send({ filename: "during.txt", content: "x" })).status,
    ).toBe(201);
    for (const refused of [
      await request(app.app).post("/api/login").send(credentials),
      await request(app.app).post("/api/users").send({ username: "newcomer", password: "password-ok" }),
    ]) {
      expect(refused.status).toBe(503);
      expect(refused.body.error).toBe("store_unavailable");
      expect(refused.headers["retry-after"]).toBe("1");
    }
    expect((await request(app.app).get("/ready")).status).toBe(503); // /ready still says Redis is away

    await redis.start();
    await waitUntilReady(app);
    expect((await request(app.app).post("/api/login").send(credentials)).status).toBe(200);
  });
});

describe("a frozen Redis (SIGSTOP): connected, but silent", () => {
  it("makes requests answer 503 store_unavailable after the 1 s command timeout, never hang, and recover on SIGCONT", async () => {
    const redis = await startRedis();
    const app = await connected(phase2App("redis-session", redis.url));
    await request(app.app).post("/api/users").send(credentials);
    const auth = await logIn(app, "redis-session");
    process.kill(redis.pid as number, "SIGSTOP");
    try {
      const started = Date.now();
      const answers = await Promise.all([
        request(app.app).get("/api/files").set(auth),
        request(app.app).get("/api/session").set(auth),
      ]);
      expect(Date.now() - started).toBeLessThan(5000); // generous: the timeout is 1 s
      for (const answer of answers) {
        expect(answer.status).toBe(503);
        expect(answer.body.error).toBe("store_unavailable");
      }
    } finally {
      process.kill(redis.pid as number, "SIGCONT");
    }
    await waitUntilReady(app);
    const fresh = await logIn(app, "redis-session");
    expect((await request(app.app).get("/api/files").set(fresh)).status).toBe(200);
  });
});

describe("a phase-2 server started while Redis is down", () => {
  it("starts, reports not ready, and becomes ready when Redis appears", async () => {
    const redis = await startRedis();
    await redis.stop();
    const server = await startServer("redis-session", {
      env: { REDIS_URL: redis.url, DATABASE_URL: await freshDatabase(), LOG_LEVEL: "warn" },
    });
    expect((await fetchJson(`${server.url}/health`)).status).toBe(200);
    expect((await fetchJson(`${server.url}/ready`)).status).toBe(503);
    const refused = await fetchJson(`${server.url}/api/users`, { method: "POST", json: credentials });
    expect(refused.status).toBe(503);
    expect(refused.body.error).toBe("store_unavailable");

    await redis.start();
    for (let tries = 0; (await fetchJson(`${server.url}/ready`)).status !== 200; tries += 1) {
      if (tries > 200) throw new Error("the server never became ready");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await fetchJson(`${server.url}/api/users`, { method: "POST", json: credentials })).status).toBe(201);
  });
});
