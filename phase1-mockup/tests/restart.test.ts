// Restarts with real processes and real signals: the stateful server's sessions die with its
// process, while users and files, kept on disk, survive. The stateless server has nothing to
// lose. This is the `restart` and `crash` columns of the survival matrix, in miniature
// (docs/labs/01-restart-and-crash.md).

import { spawn } from "node:child_process";
import http from "node:http";
import { fetchJson } from "../../test-support/http";
import { basic } from "../../test-support/phase1-apps";
import { compiled, ServerProcess, startServer, stopAllServers, stopServer } from "../../test-support/server-process";
import { isAlive } from "../../scripts/processes/managed-process";
import { makeTempDir, removeTempDirs } from "../../test-support/temp-dir";

afterAll(async () => {
  await stopAllServers();
  removeTempDirs();
});

const JSON_HEADERS = { "Content-Type": "application/json" };

function post(server: ServerProcess, path: string, json: unknown, headers: Record<string, string> = {}) {
  return fetchJson(`${server.url}${path}`, { method: "POST", headers, json });
}

function get(server: ServerProcess, path: string, headers: Record<string, string>) {
  return fetchJson(`${server.url}${path}`, { headers });
}

describe.each(["SIGKILL", "SIGTERM"] as const)("the stateful server restarted after %s", (signal) => {
  it("forgets the session but keeps the uploaded file for a new session", async () => {
    const dataDir = makeTempDir("restart-data");
    const first = await startServer("stateful", { env: { DATA_DIR: dataDir } });
    expect((await post(first, "/api/users", { username: "quinn", password: "password-ten" })).status).toBe(201);
    const sessionId = (await post(first, "/api/session/start", { username: "quinn", password: "password-ten" })).body
      .session_id;
    const upload = await post(
      first,
      "/api/upload",
      { filename: "survivor.txt", content: "on disk" },
      { "X-Session-ID": sessionId },
    );
    expect(upload.status).toBe(201);

    const exit = await stopServer(first, signal);
    expect(exit).toBe(signal === "SIGKILL" ? "SIGKILL" : 0); // SIGTERM drains and exits 0
    const second = await startServer("stateful", { port: first.port, env: { DATA_DIR: dataDir } });
    expect(second.pid).not.toBe(first.pid);
    expect(second.port).toBe(first.port);

    const old = await get(second, "/api/session", { "X-Session-ID": sessionId });
    expect(old.status).toBe(401);
    expect(old.body.error).toBe("session_not_found");

    const fresh = (await post(second, "/api/session/start", { username: "quinn", password: "password-ten" })).body
      .session_id;
    const read = await get(second, `/api/files/${upload.body.file_id}`, { "X-Session-ID": fresh });
    expect(read.status).toBe(200);
    expect(read.body.content).toBe("on disk");
    // The new session starts empty: the old session's memory of the upload is gone with the Map.
    expect((await get(second, "/api/session", { "X-Session-ID": fresh })).body.files_uploaded).toEqual([]);
  });
});

describe.each(["SIGKILL", "SIGTERM"] as const)("the stateless server restarted after %s", (signal) => {
  it("keeps accepting the same credentials", async () => {
    const dataDir = makeTempDir("restart-data");
    const first = await startServer("stateless", { env: { DATA_DIR: dataDir } });
    expect((await post(first, "/api/users", { username: "riley", password: "password-eleven" })).status).toBe(201);
    const auth = { Authorization: basic("riley", "password-eleven") };
    const upload = await post(first, "/api/upload", { filename: "kept.txt", content: "still here" }, auth);
    expect((await get(first, "/api/files", auth)).status).toBe(200);

    await stopServer(first, signal);
    const second = await startServer("stateless", { port: first.port, env: { DATA_DIR: dataDir } });
    const list = await get(second, "/api/files", auth);
    expect(list.status).toBe(200);
    expect(list.body.files.map((file: { file_id: string }) => file.file_id)).toEqual([upload.body.file_id]);
  });
});

describe("graceful shutdown on SIGTERM", () => {
  it("finishes an in-flight request with Connection: close, refuses new work, and exits 0", async () => {
    const dataDir = makeTempDir("drain-data");
    const server = await startServer("stateless", { env: { DATA_DIR: dataDir } });
    await post(server, "/api/users", { username: "sam", password: "password-twelve" });

    // An upload whose body is still arriving when the signal comes: it is in flight.
    const body = JSON.stringify({ filename: "late.txt", content: "arrived during the drain" });
    const answer = new Promise<{ status: number; connection?: string; text: string }>((resolve, reject) => {
      const req = http.request(`${server.url}/api/upload`, {
        method: "POST",
        agent: new http.Agent({ keepAlive: true }),
        headers: {
          ...JSON_HEADERS,
          "Content-Length": Buffer.byteLength(body),
          Authorization: basic("sam", "password-twelve"),
        },
      });
      req.on("response", (response) => {
        let text = "";
        response.on("data", (chunk) => (text += chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, connection: response.headers.connection, text }),
        );
      });
      req.on("error", reject);
      req.write(body.slice(0, 10));
      setTimeout(async () => {
        process.kill(server.pid, "SIGTERM");
        await new Promise((resolve) => setTimeout(resolve, 300));
        req.end(body.slice(10));
      }, 200);
    });

    const response = await answer;
    expect(response.status).toBe(201);
    expect(response.connection).toBe("close");
    expect(await server.exited).toBe(0);
    expect(server.output()).toContain("draining 1 in-flight request");
    await expect(fetch(`${server.url}/health`)).rejects.toThrow(); // nobody listens any more
  });
});

describe("a server whose parent process dies", () => {
  it("notices the closed IPC channel and exits on its own", async () => {
    // A parent that starts a server with an IPC channel, reports its pid, and is then killed
    // without a chance to clean up: what happens to the lab's servers when the lab is killed.
    const parentScript = `
      const { spawn } = require("node:child_process");
      const child = spawn(process.execPath, [${JSON.stringify(compiled("stateless-server.js"))}], {
        env: { ...process.env, PORT: "0", LOG_LEVEL: "warn", SESSION_SECRET: "x".repeat(32), DATA_DIR: ${JSON.stringify(makeTempDir("orphan-data"))} },
        stdio: ["ignore", "ignore", "ignore", "ipc"],
      });
      child.on("message", (message) => console.log(JSON.stringify(message)));`;
    const parent = spawn(process.execPath, ["-e", parentScript], { stdio: ["ignore", "pipe", "inherit"] });
    const line = await new Promise<string>((resolve) => parent.stdout.once("data", (chunk) => resolve(String(chunk))));
    const { pid, port } = JSON.parse(line);
    expect((await fetchJson(`http://127.0.0.1:${port}/health`)).body.pid).toBe(pid);

    parent.kill("SIGKILL");
    const deadline = Date.now() + 10_000;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const survived = isAlive(pid);
    if (survived) process.kill(pid, "SIGKILL"); // never leave it behind, even when the test fails
    expect(survived).toBe(false);
  });
});
