// Session lifetime in the session designs: the idle rule (SESSION_TTL_SECONDS) agrees with the
// cookie's expiry and with Redis's TTL. A session in use stays alive past the TTL counted from
// login (rolling); a session left idle for the TTL is gone. And a store that fails while
// saving a session answers 503, never 500 and never a crash. Explained in
// docs/transition-to-phase2.md ("touch, rolling, resave and saveUninitialized").

import Redis from "ioredis";
import request from "supertest";
import { stopEverything } from "../../scripts/processes/managed-process";
import { RedisServer, startRedis } from "../../scripts/processes/redis";
import { closeAllApps, connected, phase2App } from "../../test-support/phase2-apps";
import { usePostgres } from "../../test-support/postgres";

usePostgres(); // the apps' users and files; this file starts its own Redis

let redis: RedisServer;
let admin: Redis;
beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});
afterAll(async () => {
  admin.disconnect();
  await closeAllApps();
  await stopEverything();
});

const credentials = { username: "rosa", password: "password-ok" };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function logIn(app: Parameters<typeof request>[0]): Promise<string> {
  await request(app).post("/api/users").send(credentials);
  const login = await request(app).post("/api/login").send(credentials);
  return String(login.headers["set-cookie"]).split(";")[0];
}

describe("a session with SESSION_TTL_SECONDS=2", () => {
  it.each(["memory-session", "redis-session", "cached-session"] as const)(
    "%s: stays alive while in use, past the TTL counted from login, and dies when left idle for the TTL",
    async (design) => {
      const { app } = await connected(
        phase2App(design, redis.url, { sessionTtlSeconds: 2, keyPrefix: `life-${design}:` }),
      );
      const cookie = await logIn(app);
      await sleep(1200);
      expect((await request(app).get("/api/session").set("Cookie", cookie)).status).toBe(200);
      await sleep(1200); // 2.4 s after login: older than the TTL, but used 1.2 s ago
      const alive = await request(app).get("/api/session").set("Cookie", cookie);
      expect(alive.status).toBe(200);
      if (design !== "memory-session") {
        const [key] = await admin.keys(`life-${design}:sess:*`);
        expect(await admin.ttl(key)).toBeGreaterThanOrEqual(1); // renewed by the last request
      }
      await sleep(2300); // idle for longer than the TTL
      const expired = await request(app).get("/api/session").set("Cookie", cookie);
      expect(expired.status).toBe(401);
      expect(expired.body.error).toBe("session_not_found");
    },
    15_000,
  );
});

describe("what a read costs in Redis", () => {
  async function commandsDuring(work: () => Promise<unknown>): Promise<Record<string, number>> {
    await admin.config("RESETSTAT");
    await work();
    const counts: Record<string, number> = {};
    for (const [, name, calls] of (await admin.info("commandstats")).matchAll(/cmdstat_(\w+):calls=(\d+)/g))
      counts[name] = Number(calls);
    return counts;
  }

  it("redis-session: each read loads and saves its session once, and sends no EXPIRE after the answer", async () => {
    const { app } = await connected(phase2App("redis-session", redis.url, { keyPrefix: "cost:" }));
    const cookie = await logIn(app);
    const counts = await commandsDuring(async () => {
      for (let i = 0; i < 5; i += 1)
        expect((await request(app).get("/api/files").set("Cookie", cookie)).status).toBe(200);
    });
    // get: the session; set: its save (with the renewed TTL). The files come from PostgreSQL.
    expect(counts).toMatchObject({ get: 5, set: 5 });
    expect(counts.smembers).toBeUndefined();
    expect(counts.expire).toBeUndefined();
    const [key] = await admin.keys("cost:sess:*");
    expect(await admin.ttl(key)).toBeGreaterThan(1700); // the save renewed it (SESSION_TTL_SECONDS 1800)
  });
});

describe("a session store that fails", () => {
  it("answers 503 store_unavailable when saving the session times out (writes paused in Redis)", async () => {
    const { app } = await connected(phase2App("redis-session", redis.url));
    const cookie = await logIn(app);
    await admin.call("CLIENT", "PAUSE", "2500", "WRITE"); // reads go on; every write waits 2.5 s
    const response = await request(app).get("/api/files").set("Cookie", cookie);
    expect(response.status).toBe(503);
    expect(response.body.error).toBe("store_unavailable");
    expect(response.headers["retry-after"]).toBe("1");
    await admin.call("CLIENT", "UNPAUSE");
  });

  it("answers 503, and keeps running, when a cached-session value in Redis is corrupt", async () => {
    const { app } = await connected(phase2App("cached-session", redis.url, { keyPrefix: "corrupt:" }));
    const cookie = await logIn(app);
    const sid = decodeURIComponent(cookie.slice("sid=".length)).slice(2).split(".")[0];
    const fresh = (await connected(phase2App("cached-session", redis.url, { keyPrefix: "corrupt:" }))).app; // an empty cache
    await admin.set(`corrupt:sess:${sid}`, "not json");
    const response = await request(fresh).get("/api/session").set("Cookie", cookie);
    expect(response.status).toBe(503);
    expect(response.body.error).toBe("store_unavailable");
    expect((await request(fresh).get("/health")).status).toBe(200);
  });
});
