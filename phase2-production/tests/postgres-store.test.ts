// Phase 2's users and files in a real PostgreSQL (phase2-production/src/data/): the schema's
// migrations run twice without harm and a newer schema is refused; an upload is one
// transaction, so 50 at once never pass the quota; one idempotency key is one file per user,
// never across users; names and contents with SQL's own characters and NUL come back exactly;
// a SIGKILL in the middle of 50 uploads loses none that was acknowledged; and a database that
// is frozen or stopped answers DatabaseUnavailableError (503), never a hang, and is used again
// by the same store once it is back.

import { randomBytes } from "node:crypto";
import { Client } from "pg";
import { DEFAULT_QUOTA, FileRecord, UserRecord } from "../../phase1-mockup/src/domain/data-store";
import { checkSchema, knownMigrations, migrate } from "../src/data/migrate";
import { createPool, DatabaseUnavailableError, PostgresDataStore } from "../src/data/postgres-data-store";
import { admin, postgresInstalled, usePostgres } from "../../test-support/postgres";

const maybe = postgresInstalled ? describe : describe.skip;
const postgres = usePostgres();
const stores: PostgresDataStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close().catch(() => undefined)));
});

async function store(): Promise<PostgresDataStore> {
  const opened = new PostgresDataStore(createPool(await postgres.freshDatabase(), 20));
  stores.push(opened);
  return opened;
}

function user(username: string): UserRecord & { user_id: string } {
  return {
    user_id: randomBytes(16).toString("hex"),
    username,
    password_hash: "scrypt$4$c2FsdA==$aGFzaA==",
    created_at: new Date().toISOString(),
  };
}

function file(owner: string, content: string, fileId = randomBytes(16).toString("hex")): FileRecord {
  return {
    file_id: fileId,
    owner,
    filename: `${fileId.slice(0, 8)}.txt`,
    content,
    size: Buffer.byteLength(content),
    created_at: new Date().toISOString(),
  };
}

maybe("the schema", () => {
  it("migrates once: a second run applies nothing, and a server's check passes", async () => {
    await admin(postgres.server(), "CREATE DATABASE twice");
    const url = postgres.server().url("twice");
    expect(await migrate(url)).toEqual(knownMigrations());
    expect(await migrate(url)).toEqual([]);
    const client = new Client({ connectionString: url });
    await client.connect();
    await expect(checkSchema(client)).resolves.toBeUndefined();
    await client.end();
  });

  it("is refused when the database has a migration this code does not know, or misses one", async () => {
    await admin(postgres.server(), "CREATE DATABASE unmigrated");
    const bare = new Client({ connectionString: postgres.server().url("unmigrated") });
    await bare.connect();
    await expect(checkSchema(bare)).rejects.toThrow(
      /not migrated \(missing 001_users-and-files\): run npm run db:migrate/,
    );
    await bare.end();

    const client = new Client({ connectionString: await postgres.freshDatabase() });
    await client.connect();
    await client.query("INSERT INTO pgmigrations (name, run_on) VALUES ('999_from-the-future', now())");
    await expect(checkSchema(client)).rejects.toThrow(/newer than this code \(it has migration 999_from-the-future/);
    await client.end();
  });
});

maybe("an upload, one transaction", () => {
  it("never passes the quota: 50 uploads of 1,000 B at once against 10,000 B store exactly 10", async () => {
    const db = await store();
    const owner = user("hoarder");
    await db.createUser(owner);
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        db.putFileIfAbsent(file(owner.user_id, "x".repeat(1000)), { maxFiles: 1000, maxBytes: 10_000 }),
      ),
    );
    expect(results.filter((result) => "created" in result && result.created)).toHaveLength(10);
    expect(results.filter((result) => "quotaExceeded" in result)).toHaveLength(40);
    const listed = await db.listFiles(owner.user_id);
    expect(listed).toHaveLength(10);
    expect(listed.reduce((sum, each) => sum + each.size, 0)).toBe(10_000);
  });

  it("keeps one file per idempotency key and user: a replay answers the first, another user's same key is theirs", async () => {
    const db = await store();
    const alice = user("alice");
    const bob = user("bob");
    await db.createUser(alice);
    await db.createUser(bob);
    const key = "f".repeat(32);
    const replays = await Promise.all(
      ["first", "second", "third"].map((content) =>
        db.putFileIfAbsent(file(alice.user_id, content, key), DEFAULT_QUOTA),
      ),
    );
    const created = replays.filter((result) => "created" in result && result.created);
    expect(created).toHaveLength(1);
    const stored = await db.getFile(alice.user_id, key);
    for (const result of replays) expect("file" in result && result.file.content).toBe(stored?.content);
    expect(await db.putFileIfAbsent(file(bob.user_id, "bob's own", key), DEFAULT_QUOTA)).toMatchObject({
      created: true,
    });
    expect((await db.getFile(bob.user_id, key))?.content).toBe("bob's own");
    expect((await db.getFile(alice.user_id, key))?.content).toBe(stored?.content);
  });

  it("stores SQL's own characters and NUL as data, and a user record once by name", async () => {
    const db = await store();
    const odd = { ...user("o_reilly-1"), password_hash: "x'); DROP TABLE users; --" };
    expect(await db.createUser(odd)).toBe(true);
    expect(await db.createUser({ ...user("o_reilly-1") })).toBe(false); // the name is taken
    const content = "'; DELETE FROM files; --\u0000\\x00 $1 %s \u00e4\ud83d\ude00";
    const record = { ...file(odd.user_id, content), filename: "a'b\"c;--%_\\.txt" };
    expect(await db.putFileIfAbsent(record, DEFAULT_QUOTA)).toMatchObject({ created: true });
    expect(await db.getFile(odd.user_id, record.file_id)).toEqual(record);
    expect((await db.getUser("o_reilly-1"))?.password_hash).toBe(odd.password_hash);
    expect(await db.listFiles(odd.user_id)).toHaveLength(1);
  });
});

maybe("PostgreSQL's faults", () => {
  it("loses no acknowledged upload when SIGKILLed in the middle of 50, and none is half-written", async () => {
    const db = await store();
    const owner = user("writer");
    await db.createUser(owner);
    const content = (i: number) => `${i}:`.padEnd(64 * 1024, String(i % 10));
    let acknowledgedSoFar = 0;
    const uploads = Array.from({ length: 50 }, (_, i) =>
      db
        .putFileIfAbsent(
          file(owner.user_id, content(i), `${String(i).padStart(2, "0")}`.padEnd(32, "0")),
          DEFAULT_QUOTA,
        )
        .then(
          (result) => {
            acknowledgedSoFar += 1;
            return "created" in result && result.created ? i : -1;
          },
          () => -1,
        ),
    );
    // The kill comes once a few are acknowledged and, most likely, while the rest are in flight.
    const deadline = Date.now() + 10_000;
    while (acknowledgedSoFar < 5 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
    try {
      await postgres.server().kill();
    } finally {
      await Promise.all(uploads);
      await postgres.server().start();
    }
    const acknowledged = (await Promise.all(uploads)).filter((i) => i >= 0);
    expect(acknowledged.length).toBeGreaterThanOrEqual(5);
    const listed = await db.listFiles(owner.user_id); // the same store: its pool reconnects by itself
    const present = new Set(listed.map((each) => Number(each.file_id.slice(0, 2))));
    expect(acknowledged.filter((i) => !present.has(i))).toEqual([]);
    for (const each of listed) {
      const stored = await db.getFile(owner.user_id, each.file_id);
      expect(stored?.content).toBe(content(Number(each.file_id.slice(0, 2))));
      expect(stored?.size).toBe(64 * 1024);
    }
  });

  it("answers DatabaseUnavailableError while frozen (SIGSTOP) or stopped, never a hang, and works again after", async () => {
    const db = await store();
    const owner = user("patient");
    await db.createUser(owner);
    postgres.server().freeze();
    try {
      await expect(db.getUser("patient")).rejects.toBeInstanceOf(DatabaseUnavailableError);
      await expect(db.putFileIfAbsent(file(owner.user_id, "while frozen"), DEFAULT_QUOTA)).rejects.toBeInstanceOf(
        DatabaseUnavailableError,
      );
    } finally {
      postgres.server().resume();
    }
    await postgres.server().stop();
    await expect(db.listFiles(owner.user_id)).rejects.toBeInstanceOf(DatabaseUnavailableError);
    await postgres.server().start();
    expect(await db.getUser("patient")).toEqual(owner);
    expect(await db.putFileIfAbsent(file(owner.user_id, "after"), DEFAULT_QUOTA)).toMatchObject({ created: true });
  });
});
