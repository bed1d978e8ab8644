// Phase 1's quota holds exactly under concurrent uploads: 50 uploads of 1,000 bytes at once
// against a 10,000-byte quota store exactly 10 files, whether they reach one process or two
// processes on one DATA_DIR, because each upload counts and writes under its user's reservation
// (a queue in the process, a claim file on disk). And a reservation never hangs an upload: held
// by a live process it answers 503 after a bound, held by a dead one it is removed
// (docs/api-reference.md, "POST /api/upload").

import { ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import request from "supertest";
import { FileDataStore } from "../src/domain/file-data-store";
import { readDataDir } from "../../test-support/data-dir";
import { fetchJson, JsonResponse } from "../../test-support/http";
import { basic, statelessApp } from "../../test-support/phase1-apps";
import { Phase1Design, ServerProcess, startServer, stopAllServers } from "../../test-support/server-process";
import { makeTempDir, removeTempDirs } from "../../test-support/temp-dir";

let holder: ChildProcess | undefined;
afterAll(async () => {
  if (holder?.exitCode === null && holder.signalCode === null) holder.kill("SIGKILL");
  await stopAllServers();
  removeTempDirs();
});

const LIMIT_BYTES = 10_000;
const FILE_BYTES = 1_000;
const UPLOADS = 50;
const user = { username: "quinn", password: "password-quota" };

/** The headers that prove who the user is on `server`: Basic, or a session started there (a session lives in one process). */
async function proof(design: Phase1Design, server: ServerProcess): Promise<Record<string, string>> {
  if (design === "stateless") return { Authorization: basic(user.username, user.password) };
  const started = await fetchJson(`${server.url}/api/session/start`, { method: "POST", json: user });
  expect(started.status).toBe(201);
  return { "X-Session-ID": started.body.session_id };
}

function countStatuses(answers: JsonResponse[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { status, body } of answers) {
    const key = `${status} ${body?.error ?? ""}`.trim();
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

describe.each(["stateless", "stateful"] as const)("the %s design's quota under 50 parallel uploads", (design) => {
  it.each([
    ["one process", 1],
    ["two processes on one DATA_DIR", 2],
  ])(
    "stores exactly 10 files of 1,000 bytes at a 10,000-byte quota and refuses the other 40, sent to %s",
    async (_where, processes) => {
      const dataDir = makeTempDir("quota-data");
      const env = { DATA_DIR: dataDir, MAX_BYTES_PER_USER: String(LIMIT_BYTES) };
      const servers = await Promise.all(Array.from({ length: processes }, () => startServer(design, { env })));
      expect((await fetchJson(`${servers[0].url}/api/users`, { method: "POST", json: user })).status).toBe(201);
      const proofs = await Promise.all(servers.map((server) => proof(design, server)));

      // Each on its own connection, spread over the processes: 50 requests really at once.
      const answers = await Promise.all(
        Array.from({ length: UPLOADS }, (_, i) =>
          fetchJson(`${servers[i % processes].url}/api/upload`, {
            method: "POST",
            headers: { ...proofs[i % processes], Connection: "close" },
            json: { filename: `quota-${i}.txt`, content: String(i % 10).repeat(FILE_BYTES) },
          }),
        ),
      );
      const stored = Math.floor(LIMIT_BYTES / FILE_BYTES);
      expect(countStatuses(answers)).toEqual({ "201": stored, "413 quota_exceeded": UPLOADS - stored });

      for (const [i, server] of servers.entries()) {
        const listed = await fetchJson(`${server.url}/api/files`, { headers: proofs[i] });
        expect(listed.body.files).toHaveLength(stored);
        expect(listed.body.files.reduce((sum: number, file: { size: number }) => sum + file.size, 0)).toBe(
          stored * FILE_BYTES,
        );
        expect((await fetchJson(`${server.url}/health`)).status).toBe(200);
      }
      expect(readDataDir(dataDir)).toEqual({
        records: stored,
        bytes: stored * FILE_BYTES,
        contentFiles: stored,
        orphans: [],
        missingContent: [],
        tmp: [],
        claims: [],
      });
    },
  );
});

describe("a user's reservation held by another process", () => {
  it("answers an upload 503 store_unavailable after the wait bound while the holder lives, keeps reads and deletes working, and is removed once the holder is dead", async () => {
    const dataDir = makeTempDir("reservation-data");
    const app = statelessApp({ store: new FileDataStore(dataDir, { reservationWaitMs: 300 }) });
    await request(app).post("/api/users").send(user).expect(201);
    const auth = { Authorization: basic(user.username, user.password) };
    const upload = (name: string) => request(app).post("/api/upload").set(auth).send({ filename: name, content: "x" });
    const kept = (await upload("kept.txt").expect(201)).body.file_id;
    const gone = (await upload("gone.txt").expect(201)).body.file_id;

    // A claim as a live server process makes it while it counts and writes: named by its host, pid and time.
    holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    const holderExited = new Promise((resolve) => holder?.once("exit", resolve));
    const { user_id: owner } = JSON.parse(readFileSync(path.join(dataDir, "users", `${user.username}.json`), "utf8"));
    const host = os.hostname().replace(/[^A-Za-z0-9-]/g, "-") || "host";
    const claim = `${host}.${holder.pid}.${Date.now()}.${randomBytes(8).toString("hex")}.claim`;
    writeFileSync(path.join(dataDir, "locks", owner, claim), "");

    const refused = await upload("blocked.txt");
    expect({ status: refused.status, error: refused.body.error, retryAfter: refused.headers["retry-after"] }).toEqual({
      status: 503,
      error: "store_unavailable",
      retryAfter: "1",
    });
    expect((await request(app).get("/api/files").set(auth).expect(200)).body.files).toHaveLength(2);
    await request(app).get(`/api/files/${kept}`).set(auth).expect(200);
    await request(app).delete(`/api/files/${gone}`).set(auth).expect(200);

    process.kill(holder.pid as number, "SIGKILL");
    await holderExited;
    await upload("after.txt").expect(201);
    expect(readDataDir(dataDir).claims).toEqual([]);
    expect(
      (await request(app).get("/api/files").set(auth)).body.files
        .map((file: { filename: string }) => file.filename)
        .sort(),
    ).toEqual(["after.txt", "kept.txt"]);
  });
});
