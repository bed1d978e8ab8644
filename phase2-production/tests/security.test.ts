// What the servers defend against, each defence as the exact requests that would break it and
// the answer they must get (docs/api-reference.md, "What the servers defend against"). Real
// Redis, real HTTP.

import net from "node:net";
import Redis from "ioredis";
import { Client } from "pg";
import request from "supertest";
import * as passwords from "../../phase1-mockup/src/domain/passwords";
import { UserService } from "../../phase1-mockup/src/domain/users";
import { connected, freshDatabase, phase2App, sessionCookie, useStores } from "../../test-support/phase2-apps";
import { startServer } from "../../test-support/server-process";
import { expectOldCredentialKeptApart, keyedUploads } from "../../test-support/defences";
import { loadPhase2Config } from "../src/operations/config";

const redisProcess = useStores();
const alice = { username: "alice", password: "password-one" };

/** A store wiped: the app's users and files in PostgreSQL, and its keys in Redis. */
async function wipe(built: { keyPrefix: string; databaseUrl: string }): Promise<void> {
  const db = new Client({ connectionString: built.databaseUrl });
  await db.connect();
  await db.query("TRUNCATE users, files");
  await db.end();
  const admin = new Redis(redisProcess().url);
  const keys = await admin.keys(`${built.keyPrefix}*`);
  if (keys.length) await admin.del(...keys);
  admin.disconnect();
}

describe("a session or token from before a store wipe", () => {
  it.each(["jwt", "memory-session"] as const)(
    "%s: may still be accepted, but never reaches the files of whoever registers the same name later",
    async (design) => {
      const built = await connected(phase2App(design, redisProcess().url));
      await expectOldCredentialKeptApart(
        built.app,
        async (user): Promise<Record<string, string>> => {
          const login = await request(built.app).post("/api/login").send(user).expect(200);
          return design === "jwt"
            ? { Authorization: `Bearer ${login.body.token}` }
            : { Cookie: sessionCookie(login.headers["set-cookie"]) };
        },
        () => wipe(built),
      );
    },
  );
});

describe("the login rate limit", () => {
  it("holds per account when a client rotates X-Forwarded-For: of 40 wrong passwords for one account, the 11 past the limit answered 429", async () => {
    // As behind one balancer that let the client's header through: each try from a new address.
    const { app } = await connected(
      phase2App("redis-session", redisProcess().url, {
        rateLimitPerMinute: 1000,
        rateLimitPerAccountPerMinute: 30,
        trustProxyHops: 1,
      }),
    );
    await request(app).post("/api/users").set("X-Forwarded-For", "198.51.100.1").send(alice).expect(201);
    const statuses: number[] = [];
    for (let i = 1; i <= 40; i += 1) {
      const answer = await request(app)
        .post("/api/login")
        .set("X-Forwarded-For", `203.0.113.${i}`)
        .send({ username: "alice", password: "wrong-pass" });
      statuses.push(answer.status);
    }
    // A counter per address alone would answer forty 401s; the account's counter stops them at
    // 30 a minute, the registration included: 29 wrong passwords, then 429.
    expect(statuses.filter((status) => status === 429)).toHaveLength(11);
    expect(statuses.slice(0, 29).every((status) => status === 401)).toBe(true);
  });

  it("counts the connection's address when no proxy is trusted (TRUST_PROXY_HOPS=0): rotating X-Forwarded-For buys nothing", async () => {
    const { app } = await connected(phase2App("redis-session", redisProcess().url, { rateLimitPerMinute: 30 }));
    const statuses: number[] = [];
    for (let i = 1; i <= 35; i += 1) {
      const answer = await request(app)
        .post("/api/login")
        .set("X-Forwarded-For", `203.0.113.${i}`)
        .send({ username: `guess${i}`, password: "wrong-pass" });
      statuses.push(answer.status);
    }
    // Before (trust proxy "loopback"), each login counted for the address it claimed: 35 x 401.
    expect(statuses).toEqual([...Array(30).fill(401), ...Array(5).fill(429)]);
  });

  it("never turns an X-Forwarded-For that is not an address into a counter key", async () => {
    const built = await connected(
      phase2App("redis-session", redisProcess().url, { rateLimitPerMinute: 1000, trustProxyHops: 1 }),
    );
    for (const junk of ["not-an-ip", "x".repeat(200), "1.2.3.4.5", "{}"]) {
      await request(built.app)
        .post("/api/login")
        .set("X-Forwarded-For", junk)
        .send({ username: "nobody", password: "wrong-pass" })
        .expect(401);
    }
    const admin = new Redis(redisProcess().url);
    const keys = await admin.keys(`${built.keyPrefix}ratelimit:*`);
    admin.disconnect();
    expect(keys.length).toBe(1); // the connection's own address, once
    expect(keys[0]).not.toMatch(/not-an-ip|xxxx|1\.2\.3\.4\.5|\{\}/);
  });
});

describe("a listing", () => {
  it("reads metadata only: 40 files of 1 MiB, 10 parallel listings all 200 within 500 ms, and a user with no files served meanwhile", async () => {
    const built = await connected(phase2App("redis-session", redisProcess().url));
    const { app } = built;
    const heavy = { username: "hoarder", password: "password-ok" };
    const light = { username: "minimal", password: "password-ok" };
    await request(app).post("/api/users").send(heavy).expect(201);
    await request(app).post("/api/users").send(light).expect(201);
    const heavyCookie = sessionCookie((await request(app).post("/api/login").send(heavy)).headers["set-cookie"]);
    const lightCookie = sessionCookie((await request(app).post("/api/login").send(light)).headers["set-cookie"]);
    const content = "x".repeat(1048576);
    for (let i = 0; i < 40; i += 1)
      await request(app)
        .post("/api/upload")
        .set("Cookie", heavyCookie)
        .send({ filename: `big-${i}.bin`, content })
        .expect(201);
    // What a listing reads: the metadata columns of 40 rows, never their content (data/postgres-data-store.ts, listFiles).
    const db = new Client({ connectionString: built.databaseUrl });
    await db.connect();
    const stored = await db.query("SELECT count(*)::int AS n, min(octet_length(content)) AS least FROM files");
    await db.end();
    expect(stored.rows[0]).toEqual({ n: 40, least: 1048576 }); // the content is there, 1 MiB each

    const timed = async (cookie: string) => {
      const started = Date.now();
      const answer = await request(app).get("/api/files").set("Cookie", cookie);
      return {
        status: answer.status,
        ms: Date.now() - started,
        count: answer.body.files?.length,
        bytes: answer.text.length,
      };
    };
    const [listings, other] = await Promise.all([
      Promise.all(Array.from({ length: 10 }, () => timed(heavyCookie))),
      timed(lightCookie),
    ]);
    for (const listing of listings) {
      expect(listing).toMatchObject({ status: 200, count: 40 });
      expect(listing.bytes).toBeLessThan(10_000); // metadata: about 5 KB, never the 40 MiB
      expect(listing.ms).toBeLessThan(500); // before: 202 ms alone, 503s after 1 s with 10 at once
    }
    expect(other).toMatchObject({ status: 200, count: 0 });
  }, 60_000);
});

describe("the quota", () => {
  it("answers 413 quota_exceeded past MAX_FILES_PER_USER or MAX_BYTES_PER_USER; a replay still answers 200, and a delete makes room", async () => {
    const { app } = await connected(phase2App("jwt", redisProcess().url, { quota: { maxFiles: 3, maxBytes: 100 } }));
    await request(app).post("/api/users").send(alice).expect(201);
    const auth = { Authorization: `Bearer ${(await request(app).post("/api/login").send(alice)).body.token}` };
    const upload = keyedUploads(app, auth);
    await upload("a", "x".repeat(10)).expect(201);
    await upload("b", "x".repeat(10)).expect(201);
    const tooBig = await upload("big", "x".repeat(81)); // 20 + 81 > 100 bytes
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error).toBe("quota_exceeded");
    const third = await upload("c", "x".repeat(10)).expect(201);
    const fourth = await upload("d", "x");
    expect({ status: fourth.status, error: fourth.body.error }).toEqual({ status: 413, error: "quota_exceeded" });
    expect(fourth.body.message).toContain("at most 3 files and 100 bytes");
    expect((await upload("c", "x".repeat(10))).status).toBe(200); // a replay at the limit is not a new file
    await request(app).delete(`/api/files/${third.body.file_id}`).set(auth).expect(200);
    await upload("d", "x").expect(201);
    expect((await request(app).get("/api/files").set(auth)).body.files).toHaveLength(3);
  });
});

describe("bodies", () => {
  const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

  it("are read for an upload only after authentication: a broken 1 MB body with no credentials is refused 401, never parsed", async () => {
    const { app } = await connected(phase2App("redis-session", redisProcess().url, { maxFileBytes: 1048576 }));
    // Not JSON at all: parsed first, it would be a 400 invalid_json (as it was before).
    const answer = await request(app)
      .post("/api/upload")
      .set("Content-Type", "application/json")
      .send(`${nested(100_000)}}}}not json`);
    expect({ status: answer.status, error: answer.body.error }).toEqual({ status: 401, error: "missing_session" });
  });

  it("are UTF-8 only: a body in another charset is refused 415 before the nesting scan could be fooled", async () => {
    const { app } = await connected(phase2App("redis-session", redisProcess().url));
    const answer = await request(app)
      .post("/api/users")
      .set("Content-Type", "application/json; charset=utf-16le")
      .send(Buffer.from('{"username":"u16"}', "utf16le"));
    expect({ status: answer.status, error: answer.body.error }).toEqual({
      status: 415,
      error: "unsupported_media_type",
    });
  });

  it("take at most 16 KiB and 32 levels of nesting on every other route", async () => {
    const { app } = await connected(phase2App("redis-session", redisProcess().url));
    const big = await request(app)
      .post("/api/login")
      .send({ username: "alice", password: "x".repeat(17 * 1024) });
    expect({ status: big.status, error: big.body.error }).toEqual({ status: 413, error: "payload_too_large" });
    const deep = await request(app).post("/api/users").set("Content-Type", "application/json").send(nested(33));
    expect({ status: deep.status, error: deep.body.error }).toEqual({ status: 400, error: "invalid_json" });
    expect(deep.body.message).toContain("nested deeper than 32 levels");
    const fine = await request(app)
      .post("/api/users")
      .set("Content-Type", "application/json")
      .send(`{"x":${nested(30)},"username":"deep-ok","password":"password-ok"}`);
    expect(fine.status).toBe(201); // 31 levels: accepted
  });

  it("cannot stall /health: ten 2 MB nested bodies without credentials, and /health still answers at once", async () => {
    const { app } = await connected(phase2App("redis-session", redisProcess().url, { maxFileBytes: 1048576 }));
    const server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const body = nested(1_000_000);
    const floods = Array.from({ length: 10 }, (_, i) =>
      fetch(`${url}${i % 2 ? "/api/upload" : "/api/login"}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body,
      })
        .then((answer) => answer.status)
        .catch(() => 0),
    );
    const started = Date.now();
    const health = await fetch(`${url}/health`);
    const healthMs = Date.now() - started;
    const statuses = await Promise.all(floods);
    server.closeAllConnections();
    server.close();
    expect(health.status).toBe(200);
    // Before the fix /health waited for every body to be parsed: 3.1 to 3.6 s on a quiet machine.
    // The bound sits below that with room for a busy one (1.1 and 2.0 s were seen under load).
    expect(healthMs).toBeLessThan(2500);
    for (const status of statuses) expect([0, 401, 413]).toContain(status); // 0: the server closed the connection mid-body
  }, 30_000);
});

describe("the session cookie", () => {
  it("is Secure behind an HTTPS proxy (X-Forwarded-Proto: https from the balancer), and not over plain HTTP, when COOKIE_SECURE is not set", async () => {
    const config = loadPhase2Config(
      { SESSION_SECRET: "x".repeat(32), DATABASE_URL: "postgres://lab@127.0.0.1:5432/lab" },
      "redis-session",
    );
    expect(config.cookieSecure).toBe("auto"); // before: false, never Secure
    const { app } = await connected(
      phase2App("redis-session", redisProcess().url, { cookieSecure: config.cookieSecure, trustProxyHops: 1 }),
    );
    await request(app).post("/api/users").send(alice).expect(201);
    const proxied = await request(app).post("/api/login").set("X-Forwarded-Proto", "https").send(alice).expect(200);
    expect(String(proxied.headers["set-cookie"])).toMatch(/; Secure/i);
    const plain = await request(app).post("/api/login").send(alice).expect(200);
    expect(String(plain.headers["set-cookie"])).not.toMatch(/; Secure/i);
  });

  it("with COOKIE_SECURE=true, a login over plain HTTP answers 400 with a reason, never a 200 without a cookie", async () => {
    const { app } = await connected(
      phase2App("memory-session", redisProcess().url, { cookieSecure: true, trustProxyHops: 1 }),
    );
    await request(app).post("/api/users").send(alice).expect(201);
    const plain = await request(app).post("/api/login").send(alice);
    expect({ status: plain.status, error: plain.body.error }).toEqual({ status: 400, error: "validation_error" });
    expect(plain.body.message).toContain("HTTPS");
    expect(plain.headers["set-cookie"]).toBeUndefined();
    const proxied = await request(app).post("/api/login").set("X-Forwarded-Proto", "https").send(alice).expect(200);
    expect(String(proxied.headers["set-cookie"])).toMatch(/; Secure/i);
  });
});

describe("small things a probe found", () => {
  it("makes the dummy password hash at start, so that the first unknown-user login costs what every other does", () => {
    const spy = jest.spyOn(passwords, "hashPassword");
    new UserService({} as never, 4);
    expect(spy).toHaveBeenCalledTimes(1); // before: 0 until the first unknown-user login
    spy.mockRestore();
  });

  it("answers a file read with Cache-Control: no-store and X-Content-Type-Options: nosniff", async () => {
    const { app } = await connected(phase2App("jwt", redisProcess().url));
    await request(app).post("/api/users").send(alice).expect(201);
    const auth = { Authorization: `Bearer ${(await request(app).post("/api/login").send(alice)).body.token}` };
    const { body } = await request(app)
      .post("/api/upload")
      .set(auth)
      .send({ filename: "page.html", content: "<script>alert(1)</script>" })
      .expect(201);
    const read = await request(app).get(`/api/files/${body.file_id}`).set(auth).expect(200);
    expect(read.headers["cache-control"]).toBe("no-store");
    expect(read.headers["x-content-type-options"]).toBe("nosniff");
    expect(read.headers["content-type"]).toMatch(/^application\/json/);
  });

  it("refuses a filename with a Unicode bidirectional control (U+202E) with 400", async () => {
    const { app } = await connected(phase2App("jwt", redisProcess().url));
    await request(app).post("/api/users").send(alice).expect(201);
    const auth = { Authorization: `Bearer ${(await request(app).post("/api/login").send(alice)).body.token}` };
    for (const filename of ["invoice\u202Efdp.exe", "a\u2066b.txt"]) {
      const answer = await request(app).post("/api/upload").set(auth).send({ filename, content: "x" });
      expect({ status: answer.status, error: answer.body.error }).toEqual({ status: 400, error: "validation_error" });
      expect(answer.body.message).toContain("bidirectional");
    }
  });

  it("answers a request without Host with the JSON 400 of every malformed request, and closes a slow client's connection after 10 s of headers", async () => {
    const server = await startServer("redis-session", {
      env: { REDIS_URL: redisProcess().url, DATABASE_URL: await freshDatabase(), KEY_PREFIX: "nohost:" },
    });
    const raw = (text: string) =>
      new Promise<string>((resolve) => {
        const socket = net.connect(server.port, "127.0.0.1", () => socket.write(text));
        let answer = "";
        socket.on("data", (chunk) => (answer += chunk));
        socket.on("close", () => resolve(answer));
        socket.on("error", () => resolve(answer));
      });
    const noHost = await raw("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");
    expect(noHost).toMatch(/^HTTP\/1\.1 400/);
    expect(JSON.parse(noHost.slice(noHost.indexOf("\r\n\r\n") + 4))).toMatchObject({
      error: "validation_error",
      message: expect.stringContaining("Host"),
    });

    const started = Date.now();
    const slow = await raw("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "); // headers that never end
    const heldMs = Date.now() - started;
    expect(heldMs).toBeGreaterThanOrEqual(9_000);
    expect(heldMs).toBeLessThan(13_000); // before: 60 s
    expect(slow).toMatch(/^HTTP\/1\.1 408 /);
    expect(slow).toContain('"error":"validation_error"');
  }, 30_000);
});
