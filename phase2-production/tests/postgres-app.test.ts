// Phase 2 with DATABASE_URL: users and files in a real PostgreSQL, sessions (and the jwt
// deny-list, and the login limit's counters) in a real Redis. Every design's workflow runs,
// and afterwards Redis holds no user and no file key; a PostgreSQL that is stopped answers 503
// database_unavailable with Retry-After (never a 401, never a hang), /ready names it, and the
// same app serves again once it is back; a server refuses a database whose schema it does
// not know, in one line.

import Redis from "ioredis";
import request from "supertest";
import { PHASE2_DESIGNS } from "../src/operations/config";
import { closeAllApps, connected, phase2App, TEST_SECRET, useStores } from "../../test-support/phase2-apps";
import { freshDatabase, postgresInstalled, testPostgres } from "../../test-support/postgres";
import { runScript, serverArguments } from "../../test-support/server-process";
import { Client } from "pg";

const redisProcess = useStores();
const postgres = { freshDatabase, server: testPostgres }; // started by useStores()
const maybe = postgresInstalled ? describe : describe.skip;
afterEach(() => closeAllApps());

const alice = { username: "alice", password: "password-one" };

/** The headers that prove who alice is, per design. */
async function logIn(app: Parameters<typeof request>[0], design: string): Promise<Record<string, string>> {
  const login = await request(app).post("/api/login").send(alice).expect(200);
  if (design === "jwt") return { Authorization: `Bearer ${login.body.token}` };
  return { Cookie: String(login.headers["set-cookie"]).split(";")[0] };
}

maybe("phase 2 on PostgreSQL and Redis", () => {
  it.each(PHASE2_DESIGNS)("%s: the whole workflow, and no user or file key in Redis afterwards", async (design) => {
    const databaseUrl = await postgres.freshDatabase();
    const built = await connected(phase2App(design, redisProcess().url, { databaseUrl }));
    const { app } = built;
    await request(app).post("/api/users").send(alice).expect(201);
    await request(app).post("/api/users").send(alice).expect(409);
    const proof = await logIn(app, design);
    const upload = await request(app)
      .post("/api/upload")
      .set(proof)
      .set("Idempotency-Key", "key-0001")
      .send({ filename: "notes.txt", content: "kept in PostgreSQL" })
      .expect(201);
    const replay = await request(app)
      .post("/api/upload")
      .set(proof)
      .set("Idempotency-Key", "key-0001")
      .send({ filename: "notes.txt", content: "kept in PostgreSQL" })
      .expect(200);
    expect(replay.body.file_id).toBe(upload.body.file_id);
    const listed = await request(app).get("/api/files").set(proof).expect(200);
    expect(listed.body.files.map((file: { filename: string }) => file.filename)).toEqual(["notes.txt"]);
    const read = await request(app).get(`/api/files/${upload.body.file_id}`).set(proof).expect(200);
    expect(read.body.content).toBe("kept in PostgreSQL");

    // Where each thing is: the rows in PostgreSQL, nothing of them in Redis.
    const database = new Client({ connectionString: databaseUrl });
    await database.connect();
    const rows = await database.query(
      "SELECT (SELECT count(*) FROM users)::int AS users, (SELECT count(*) FROM files)::int AS files",
    );
    await database.end();
    expect(rows.rows[0]).toEqual({ users: 1, files: 1 });
    const admin = new Redis(redisProcess().url);
    const keys = await admin.keys(`${built.keyPrefix}*`);
    admin.disconnect();
    const dataKeys = keys.filter((key) => /:(user|file|content|files|usage):/.test(key));
    expect(dataKeys).toEqual([]);

    await request(app).delete(`/api/files/${upload.body.file_id}`).set(proof).expect(200);
    await request(app).get("/api/files").set(proof).expect(200, { files: [] });
  });

  it("answers 503 database_unavailable with Retry-After while PostgreSQL is stopped, /ready names it, and serves again after", async () => {
    const built = await connected(
      phase2App("redis-session", redisProcess().url, { databaseUrl: await postgres.freshDatabase() }),
    );
    const { app } = built;
    await request(app).post("/api/users").send(alice).expect(201);
    const proof = await logIn(app, "redis-session");
    await postgres.server().stop();
    try {
      const refused = await request(app).get("/api/files").set(proof);
      expect({ status: refused.status, error: refused.body.error, retry: refused.headers["retry-after"] }).toEqual({
        status: 503,
        error: "database_unavailable",
        retry: "1",
      });
      const ready = await request(app).get("/ready").expect(503);
      expect(ready.body.error).toBe("database_unavailable");
      expect(ready.body.message).toMatch(/^PostgreSQL at 127\.0\.0\.1:\d+\/\w+ is not answering/);
    } finally {
      await postgres.server().start();
    }
    await request(app).get("/api/files").set(proof).expect(200, { files: [] }); // the same session, the same app
    await request(app).get("/ready").expect(200);
  });

  it("refuses to start on a database whose schema it does not know, in one line", async () => {
    const databaseUrl = await postgres.freshDatabase();
    const database = new Client({ connectionString: databaseUrl });
    await database.connect();
    await database.query("INSERT INTO pgmigrations (name, run_on) VALUES ('999_from-the-future', now())");
    await database.end();
    const [script, ...args] = serverArguments("redis-session");
    const result = await runScript(script, args, {
      PORT: "0",
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisProcess().url,
      SESSION_SECRET: TEST_SECRET,
    });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /cannot start: the database's schema is newer than this code \(it has migration 999_from-the-future/,
    );
  });
});
