// A crash in the middle of a write never leaves a half-written record that a reader can see:
// records are written whole to tmp/ and published with link(2), so a reader finds either the
// whole record or nothing (docs/concepts.md, "What both servers do the same way"). Tested with
// a real writer process killed by SIGKILL while a reader keeps reading the same DATA_DIR. And what
// a server killed in the middle of uploads leaves behind (content no record names, temp
// records, its reservation) is removed: at the next start, or by the next upload of that user
// on another process, and the quota then counts exactly what is listed (docs/api-reference.md,
// "POST /api/upload").

import { ChildProcess, spawn } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { FileDataStore } from "../src/domain/file-data-store";
import { readDataDir } from "../../test-support/data-dir";
import { fetchJson } from "../../test-support/http";
import { basic } from "../../test-support/phase1-apps";
import { compiled, ServerProcess, startServer, stopAllServers, stopServer } from "../../test-support/server-process";
import { makeTempDir, removeTempDirs } from "../../test-support/temp-dir";

let writer: ChildProcess | undefined;
afterAll(async () => {
  writer?.kill("SIGKILL");
  await stopAllServers();
  removeTempDirs();
});

const CONTENT_BYTES = 4 * 1024 * 1024; // big records: a write takes long enough to be caught midway

function startWriter(dataDir: string): ChildProcess {
  const script = `
    const { FileDataStore } = require(${JSON.stringify(compiled("domain/file-data-store.js"))});
    const store = new FileDataStore(${JSON.stringify(dataDir)});
    const content = "x".repeat(${CONTENT_BYTES});
    const id = (i) => i.toString(16).padStart(32, "0");
    (async () => {
      for (let i = 0; ; i += 1) {
        await store.putFileIfAbsent({ file_id: id(i), owner: "writer",
          filename: "f" + i + ".txt", content, size: content.length, created_at: new Date().toISOString() }, { maxFiles: 1000, maxBytes: 2 ** 40 });
        await store.createUser({ username: "user-" + i, password_hash: content, created_at: new Date().toISOString() });
        if (i === 0) process.send("writing");
        if (i >= 2) { // keep the disk small: only the newest records stay
          await store.deleteFile("writer", id(i - 2));
          require("node:fs").unlinkSync(${JSON.stringify(dataDir)} + "/users/user-" + (i - 2) + ".json");
        }
      }
    })();`;
  return spawn(process.execPath, ["-e", script], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
}

describe("a writer killed in the middle of its writes", () => {
  it("never shows a reader half a record", async () => {
    const dataDir = makeTempDir("crash-data");
    const reader = new FileDataStore(dataDir);
    writer = startWriter(dataDir);
    await new Promise((resolve, reject) => {
      writer?.once("message", resolve);
      writer?.once("exit", (code) => reject(new Error(`writer exited early (${code})`)));
    });

    // The reader checks each record as soon as it appears, when a torn write is most likely
    // to show. A half-written record would fail to parse, and the store would throw.
    const seen = new Set<string>();
    const readEverything = async () => {
      for (const name of readdirSync(path.join(dataDir, "files", "writer")).filter((each) => each.endsWith(".json"))) {
        if (seen.has(`file:${name}`)) continue;
        const file = await reader.getFile("writer", name.replace(/\.json$/, ""));
        if (file) expect(file.content.length).toBe(CONTENT_BYTES); // null: the writer deleted it meanwhile
        seen.add(`file:${name}`);
      }
      for (const name of readdirSync(path.join(dataDir, "users"))) {
        if (seen.has(`user:${name}`)) continue;
        const user = await reader.getUser(name.replace(/\.json$/, ""));
        if (user) expect(user.password_hash.length).toBe(CONTENT_BYTES);
        seen.add(`user:${name}`);
      }
    };

    // At a random moment after 1 s, once the reader has seen more than 10 records (on a loaded
    // machine the writer may need longer for them; 15 s at most).
    const killAt = Date.now() + 1000 + Math.random() * 300;
    const giveUpAt = Date.now() + 15_000;
    while ((Date.now() < killAt || seen.size <= 10) && Date.now() < giveUpAt) await readEverything();
    const exited = new Promise((resolve) => writer?.once("exit", (_code, signal) => resolve(signal)));
    writer.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    await readEverything(); // and after the crash, whatever it left behind

    expect(seen.size).toBeGreaterThan(10); // the reader really raced the writer
  });

  it("ignores a partial record left in tmp/ by a crash", async () => {
    const dataDir = makeTempDir("crash-data");
    const store = new FileDataStore(dataDir);
    // What a crash between writing the temp file and publishing it leaves behind.
    writeFileSync(path.join(dataDir, "tmp", "orphan.json"), '{"username":"victor","password_hash":"scr');
    expect(await store.getUser("victor")).toBeNull();
    expect(await store.listFiles("victor")).toEqual([]);
    expect(await store.createUser({ username: "victor", password_hash: "h", created_at: "now" })).toBe(true);
    expect(await store.getUser("victor")).toEqual({ username: "victor", password_hash: "h", created_at: "now" });
  });
});

describe("a server killed in the middle of 50 parallel uploads", () => {
  const UPLOAD_BYTES = 256 * 1024; // big enough that a kill often lands inside a write
  const user = { username: "kim", password: "password-crash" };
  const auth = { Authorization: basic(user.username, user.password) };
  const keys = Array.from({ length: 50 }, (_, i) => `crash-${i}`);

  function upload(server: ServerProcess, key: string) {
    return fetchJson(`${server.url}/api/upload`, {
      method: "POST",
      headers: { ...auth, Connection: "close", "Idempotency-Key": key },
      json: { filename: `${key}.bin`, content: key.slice(-1).repeat(UPLOAD_BYTES) },
    });
  }

  /** What a crash can leave: content no record names, temp records, reservations. */
  function debris(dataDir: string): string[] {
    const { orphans, tmp, claims } = readDataDir(dataDir);
    return [...orphans, ...tmp.map((name) => `tmp/${name}`), ...claims.map((name) => `locks/${name}`)];
  }

  /**
   * Sends the 50 uploads at once to `victim` and SIGKILLs it once 3 more content files are on
   * disk, while the others are still on their way; again (after a restart) until the kill has
   * left something behind, so that what follows checks a real crash's leftovers.
   */
  async function crashDuringUploads(victim: ServerProcess, dataDir: string, restart: () => Promise<ServerProcess>) {
    for (let round = 1; ; round += 1) {
      const before = readDataDir(dataDir).contentFiles;
      let settled = false;
      const answers = Promise.allSettled(keys.map((key) => upload(victim, key))).finally(() => (settled = true));
      while (!settled && readDataDir(dataDir).contentFiles < before + 3)
        await new Promise((resolve) => setTimeout(resolve, 2));
      expect(await stopServer(victim, "SIGKILL")).toBe("SIGKILL");
      await answers;
      const left = debris(dataDir);
      if (left.length > 0 || round === 5) return left;
      victim = await restart();
    }
  }

  it("leaves nothing a restart does not clean, and the quota then counts exactly what is listed", async () => {
    const dataDir = makeTempDir("crash-uploads");
    // Room for the 50 files and exactly one more, once the 50 are stored.
    const start = () =>
      startServer("stateless", { env: { DATA_DIR: dataDir, MAX_BYTES_PER_USER: String(51 * UPLOAD_BYTES) } });
    const first = await start();
    expect((await fetchJson(`${first.url}/api/users`, { method: "POST", json: user })).status).toBe(201);
    expect(await crashDuringUploads(first, dataDir, start)).not.toEqual([]);

    const second = await start();
    const cleaned = readDataDir(dataDir);
    expect(debris(dataDir)).toEqual([]);
    expect(cleaned.missingContent).toEqual([]);
    expect(cleaned.contentFiles).toBe(cleaned.records);

    // The client retries what it never saw answered, with the same keys: each stored once.
    const retried = await Promise.all(keys.map((key) => upload(second, key)));
    expect(retried.filter((answer) => answer.status !== 200 && answer.status !== 201)).toEqual([]);
    const listed = await fetchJson(`${second.url}/api/files`, { headers: auth });
    expect(listed.body.files).toHaveLength(50);
    expect((await upload(second, "one-more")).status).toBe(201);
    const refused = await upload(second, "one-too-many");
    expect({ status: refused.status, error: refused.body.error }).toEqual({ status: 413, error: "quota_exceeded" });
    expect(refused.body.message).toContain(`you hold 51 files and ${51 * UPLOAD_BYTES} bytes`);
    const final = readDataDir(dataDir);
    expect({ records: final.records, contentFiles: final.contentFiles, debris: debris(dataDir) }).toEqual({
      records: 51,
      contentFiles: 51,
      debris: [],
    });
    expect((await fetchJson(`${second.url}/health`)).status).toBe(200);
  });

  it("is cleaned up after by the next upload of that user on a process that shares its DATA_DIR", async () => {
    const dataDir = makeTempDir("crash-shared");
    const env = { DATA_DIR: dataDir };
    const [victim, survivor] = await Promise.all([
      startServer("stateless", { env }),
      startServer("stateless", { env }),
    ]);
    expect((await fetchJson(`${victim.url}/api/users`, { method: "POST", json: user })).status).toBe(201);
    expect(await crashDuringUploads(victim, dataDir, () => startServer("stateless", { env }))).not.toEqual([]);

    // No restart: the survivor finds the dead process's reservation, removes it and what it left.
    expect((await upload(survivor, "after-the-crash")).status).toBe(201);
    const listed = await fetchJson(`${survivor.url}/api/files`, { headers: auth });
    const disk = readDataDir(dataDir);
    expect({ debris: debris(dataDir), contentFiles: disk.contentFiles }).toEqual({
      debris: [],
      contentFiles: listed.body.files.length,
    });
  });
});
