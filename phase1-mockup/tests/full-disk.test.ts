// Phase 1 on a full disk: an upload that does not fit answers 507 insufficient_storage, without
// Retry-After (waiting frees nothing), and removes whatever it had begun to write; the files
// stored before stay readable, and a delete makes room again (docs/api-reference.md, "Errors").
// The disk is a real 1 MiB tmpfs, mounted for the test: that needs root, as in CI.

import { execFileSync } from "node:child_process";
import { readDataDir } from "../../test-support/data-dir";
import { fetchJson, JsonResponse } from "../../test-support/http";
import { basic } from "../../test-support/phase1-apps";
import { ServerProcess, startServer, stopAllServers } from "../../test-support/server-process";
import { makeTempDir, removeTempDirs } from "../../test-support/temp-dir";

let mounted: string | undefined;
afterAll(async () => {
  await stopAllServers();
  if (mounted) execFileSync("umount", [mounted]);
  removeTempDirs();
});

/** A fresh 1 MiB tmpfs, or undefined (with a note) where this user may not mount one. */
function mountSmallDisk(): string | undefined {
  const dir = makeTempDir("full-disk");
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir], { stdio: "pipe" });
  } catch (error) {
    const reason = `${(error as Error).message} ${(error as { stderr?: Buffer }).stderr ?? ""}`;
    if (!/EPERM|permission denied|operation not permitted|must be superuser|only root/i.test(reason)) throw error;
    console.warn(`full-disk.test.ts: not run: mounting a 1 MiB tmpfs needs root (${reason.trim()})`);
    return undefined;
  }
  mounted = dir;
  return dir;
}

const user = { username: "fern", password: "password-full" };
const auth = { Authorization: basic(user.username, user.password) };

function upload(server: ServerProcess, filename: string, content: string): Promise<JsonResponse> {
  return fetchJson(`${server.url}/api/upload`, { method: "POST", headers: auth, json: { filename, content } });
}

describe("phase 1 with its DATA_DIR on a full disk", () => {
  it("answers 507 insufficient_storage without Retry-After, leaves nothing half-written, and keeps reading", async () => {
    const dataDir = mountSmallDisk();
    if (!dataDir) return;
    const server = await startServer("stateless", { env: { DATA_DIR: dataDir } });
    expect((await fetchJson(`${server.url}/api/users`, { method: "POST", json: user })).status).toBe(201);

    // 100 KiB at a time until the disk is full, then smaller and smaller files: some fit, some
    // fail in the middle of their content, some once their content is written, at the record.
    const stored = new Map<string, string>();
    const refusals: JsonResponse[] = [];
    const sizes = [...Array(12).fill(100 * 1024), 60_000, 30_000, 9000, 5000, 3000, 1000, 100, 10, 1];
    for (const [i, size] of sizes.entries()) {
      const content = String.fromCharCode(97 + (i % 26)).repeat(size);
      const answer = await upload(server, `fill-${i}.txt`, content);
      if (answer.status === 201) stored.set(answer.body.file_id, content);
      else refusals.push(answer);
    }
    expect(stored.size).toBeGreaterThan(0);
    expect(refusals.length).toBeGreaterThan(0);
    for (const refusal of refusals)
      expect({
        status: refusal.status,
        error: refusal.body.error,
        retryAfter: refusal.headers.get("Retry-After"),
      }).toEqual({ status: 507, error: "insufficient_storage", retryAfter: null });
    // Nothing half-written: every content file is named by a record, tmp/ and locks/ are empty.
    expect(readDataDir(dataDir)).toEqual({
      records: stored.size,
      bytes: [...stored.values()].reduce((sum, content) => sum + content.length, 0),
      contentFiles: stored.size,
      orphans: [],
      missingContent: [],
      tmp: [],
      claims: [],
    });

    // Reads work on the full disk; a delete makes room, and an upload fits again.
    expect((await fetchJson(`${server.url}/health`)).status).toBe(200);
    expect((await fetchJson(`${server.url}/api/files`, { headers: auth })).body.files).toHaveLength(stored.size);
    for (const [fileId, content] of stored) {
      const read = await fetchJson(`${server.url}/api/files/${fileId}`, { headers: auth });
      expect({ status: read.status, length: read.body.content?.length }).toEqual({
        status: 200,
        length: content.length,
      });
      expect(read.body.content).toBe(content);
    }
    const [largest] = [...stored.entries()].sort(([, a], [, b]) => b.length - a.length);
    expect((await fetchJson(`${server.url}/api/files/${largest[0]}`, { method: "DELETE", headers: auth })).status).toBe(
      200,
    );
    expect((await upload(server, "after-a-delete.txt", "x".repeat(50 * 1024))).status).toBe(201);
  });
});
