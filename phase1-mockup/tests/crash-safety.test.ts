// A crash in the middle of a write never leaves a half-written record that a reader can see:
// records are written whole to tmp/ and published with link(2), so a reader finds either the
// whole record or nothing (docs/concepts.md, "What both servers do the same way"). Tested with
// a real writer process killed by SIGKILL while a reader keeps reading the same DATA_DIR.

import { ChildProcess, spawn } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { FileDataStore } from "../src/domain/file-data-store";
import { compiled } from "../../test-support/server-process";
import { makeTempDir, removeTempDirs } from "../../test-support/temp-dir";

let writer: ChildProcess | undefined;
afterAll(() => {
  writer?.kill("SIGKILL");
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

    const killAt = Date.now() + 1000 + Math.random() * 300;
    while (Date.now() < killAt) await readEverything();
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
