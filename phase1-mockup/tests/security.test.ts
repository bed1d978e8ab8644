// Phase 1's share of what the servers defend against (docs/api-reference.md,
// "What the servers defend against"): a session from before a wipe of DATA_DIR never reaches
// the files of whoever registers the same name later, a listing reads no file's content, the
// per-user quota, and filenames that would display as another name.

import { randomBytes, scryptSync } from "node:crypto";
import { readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import request from "supertest";
import { FileDataStore } from "../src/domain/file-data-store";
import { parseAllowedHosts } from "../src/http/allowed-hosts";
import { checkPassword, verifyPassword } from "../src/domain/passwords";
import { basic, phase1Options, statefulApp, statelessApp } from "../../test-support/phase1-apps";
import { makeTempDir, removeTempDirs } from "../../test-support/temp-dir";
import { expectOldCredentialKeptApart, keyedUploads } from "../../test-support/defences";

afterAll(removeTempDirs);

const alice = { username: "alice", password: "password-one" };

describe("the stateful design after its DATA_DIR is wiped", () => {
  it("keeps the old session (it lives in memory), which never reaches the files of a new alice", async () => {
    const dataDir = makeTempDir("wiped");
    const { app } = statefulApp({ store: new FileDataStore(dataDir) });
    await expectOldCredentialKeptApart(
      app,
      async (user) => ({ "X-Session-ID": (await request(app).post("/api/session/start").send(user)).body.session_id }),
      () => {
        for (const entry of readdirSync(dataDir)) rmSync(path.join(dataDir, entry), { recursive: true, force: true });
        new FileDataStore(dataDir); // the folders again, empty, as a fresh start would make them
      },
    );
  });
});

describe("phase 1's files", () => {
  it("are listed from their metadata alone: a listing of 40 files of 1 MiB reads 40 small records", async () => {
    const dataDir = makeTempDir("listing");
    const app = statelessApp({ store: new FileDataStore(dataDir) });
    await request(app).post("/api/users").send(alice).expect(201);
    const auth = { Authorization: basic(alice.username, alice.password) };
    const content = "x".repeat(1048576);
    for (let i = 0; i < 40; i += 1)
      await request(app)
        .post("/api/upload")
        .set(auth)
        .send({ filename: `big-${i}.bin`, content })
        .expect(201);
    const listing = await request(app).get("/api/files").set(auth).expect(200);
    expect(listing.body.files).toHaveLength(40);
    expect(listing.text.length).toBeLessThan(10_000);
    // What a listing reads: the .json records, each a few hundred bytes (before: each held its 1 MiB).
    const [owner] = readdirSync(path.join(dataDir, "files"));
    const records = readdirSync(path.join(dataDir, "files", owner)).filter((name) => name.endsWith(".json"));
    expect(records).toHaveLength(40);
    for (const record of records) expect(statSync(path.join(dataDir, "files", owner, record)).size).toBeLessThan(1024);
    const one = await request(app).get(`/api/files/${listing.body.files[0].file_id}`).set(auth).expect(200);
    expect(one.body.content).toHaveLength(1048576); // the content, read apart, still whole
  }, 60_000);

  it("obey the quota: 413 quota_exceeded past the files or bytes a user may hold; a replay answers 200; a delete makes room", async () => {
    const app = statelessApp({ ...phase1Options(), quota: { maxFiles: 2, maxBytes: 50 } });
    await request(app).post("/api/users").send(alice).expect(201);
    const auth = { Authorization: basic(alice.username, alice.password) };
    const upload = keyedUploads(app, auth);
    const first = await upload("a", "x".repeat(20)).expect(201);
    const tooBig = await upload("big", "x".repeat(31));
    expect({ status: tooBig.status, error: tooBig.body.error }).toEqual({ status: 413, error: "quota_exceeded" });
    await upload("b", "x".repeat(20)).expect(201);
    const third = await upload("c", "x");
    expect({ status: third.status, error: third.body.error }).toEqual({ status: 413, error: "quota_exceeded" });
    expect((await upload("a", "x".repeat(20))).status).toBe(200);
    await request(app).delete(`/api/files/${first.body.file_id}`).set(auth).expect(200);
    await upload("c", "x").expect(201);
  });

  it("keep the first upload's content when two uploads with one key race, and leave no second content file behind", async () => {
    const dataDir = makeTempDir("race");
    const app = statelessApp({ store: new FileDataStore(dataDir) });
    await request(app).post("/api/users").send(alice).expect(201);
    const auth = { Authorization: basic(alice.username, alice.password) };
    for (let round = 0; round < 5; round += 1) {
      const key = `same-${round}`;
      const answers = await Promise.all(
        ["A", "B"].map((letter) =>
          request(app)
            .post("/api/upload")
            .set(auth)
            .set("Idempotency-Key", key)
            .send({ filename: "race.txt", content: letter.repeat(1000) }),
        ),
      );
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 201]);
      const winner = answers.findIndex((answer) => answer.status === 201);
      const read = await request(app).get(`/api/files/${answers[0].body.file_id}`).set(auth).expect(200);
      expect(read.body.content).toBe(["A", "B"][winner].repeat(1000)); // the acknowledged first upload's, never the loser's
    }
    const [owner] = readdirSync(path.join(dataDir, "files"));
    expect(readdirSync(path.join(dataDir, "files", owner)).filter((name) => name.endsWith(".content"))).toHaveLength(5);
  });

  it("refuse a filename with a Unicode bidirectional control with 400", async () => {
    const app = statelessApp();
    await request(app).post("/api/users").send(alice).expect(201);
    const answer = await request(app)
      .post("/api/upload")
      .set("Authorization", basic(alice.username, alice.password))
      .send({ filename: "invoice\u202Efdp.exe", content: "x" });
    expect({ status: answer.status, error: answer.body.error }).toEqual({ status: 400, error: "validation_error" });
  });
});

describe("passwords in Unicode", () => {
  const composed = "pässwort-eins"; // "ä" as one character (NFC)
  const decomposed = composed.normalize("NFD"); // "a" and a combining diaeresis, as some keyboards type it

  it("accepts a password typed in NFD that was registered in NFC, and the other way round", async () => {
    const app = statelessApp();
    await request(app).post("/api/users").send({ username: "ulla", password: composed }).expect(201);
    await request(app).get("/api/files").set("Authorization", basic("ulla", decomposed)).expect(200);
    await request(app).post("/api/users").send({ username: "ueli", password: decomposed }).expect(201);
    await request(app).get("/api/files").set("Authorization", basic("ueli", composed)).expect(200);
    await request(app).get("/api/files").set("Authorization", basic("ueli", "passwort-eins")).expect(401);
  });

  it("keeps a hash made before passwords were normalised working for the form typed then", async () => {
    const salt = randomBytes(16);
    const key = scryptSync(decomposed, salt, 32, { N: 2 ** 4, r: 8, p: 1 }); // as hashPassword made it, unnormalised
    const stored = `scrypt$4$${salt.toString("base64")}$${key.toString("base64")}`;
    expect(await verifyPassword(decomposed, stored)).toBe(true);
    expect(await verifyPassword("pässwort-zwei", stored)).toBe(false);
  });

  it("hashes anew, in NFC, a password that matched a hash made before: the next login compares once", async () => {
    const store = new FileDataStore(makeTempDir("rehash"));
    const salt = randomBytes(16);
    const key = scryptSync(decomposed, salt, 32, { N: 2 ** 4, r: 8, p: 1 });
    const before = `scrypt$4$${salt.toString("base64")}$${key.toString("base64")}`;
    const record = {
      user_id: "0".repeat(32),
      username: "olga",
      password_hash: before,
      created_at: "2025-01-01T00:00:00Z",
    };
    await store.createUser(record);
    const app = statelessApp({ store });
    await request(app).get("/api/files").set("Authorization", basic("olga", decomposed)).expect(200);
    const after = await store.getUser("olga");
    expect(after?.password_hash).not.toBe(before); // before: the old hash stayed for ever
    expect({ ...after, password_hash: "" }).toEqual({ ...record, password_hash: "" }); // same id, same name
    expect(await checkPassword(decomposed, after?.password_hash ?? "")).toBe("match");
    await request(app).get("/api/files").set("Authorization", basic("olga", composed)).expect(200);
  });
});

describe("the Host a request names", () => {
  it("answers 421 misdirected_request to a name it was not told (DNS rebinding), and serves loopback's names on any port", async () => {
    const app = statelessApp();
    const evil = await request(app).get("/health").set("Host", "evil.example");
    expect({ status: evil.status, error: evil.body.error }).toEqual({ status: 421, error: "misdirected_request" });
    await request(app).get("/health").set("Host", "evil.example:3000").expect(421);
    await request(app).get("/health").set("Host", "127.0.0.1.evil.example").expect(421);
    for (const host of ["127.0.0.1:3000", "localhost", "LOCALHOST:8080", "[::1]:3001"])
      await request(app).get("/health").set("Host", host).expect(200);
  });

  it("follows ALLOWED_HOSTS: a name with a port allows that port only, and * allows every name", async () => {
    const named = statelessApp({ allowedHosts: parseAllowedHosts("lab.example:8080") });
    await request(named).get("/health").set("Host", "lab.example:8080").expect(200);
    await request(named).get("/health").set("Host", "lab.example:9090").expect(421);
    await request(named).get("/health").set("Host", "localhost").expect(421);
    await request(statelessApp({ allowedHosts: parseAllowedHosts("*") }))
      .get("/health")
      .set("Host", "anything.example")
      .expect(200);
  });
});
