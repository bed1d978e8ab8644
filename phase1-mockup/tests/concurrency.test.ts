// Concurrency: parallel requests on one session, two processes on one DATA_DIR, and retried
// uploads. The Map session keeps every parallel upload (one thread mutates one object),
// and the data directory lets two processes race without losing or doubling anything.
// Explained in docs/labs/05-concurrency.md and docs/concepts.md ("Stateful trade-offs").

import http from "node:http";
import { AddressInfo } from "node:net";
import request from "supertest";
import { JsonBody } from "../../test-support/http";
import { basic, statefulApp, statelessApp } from "../../test-support/phase1-apps";
import { startServer, stopAllServers } from "../../test-support/server-process";
import { makeTempDir, removeTempDirs } from "../../test-support/temp-dir";

afterAll(async () => {
  await stopAllServers();
  removeTempDirs();
});

/** Sends `count` requests at once, each on its own TCP connection (no keep-alive pool). */
function parallelUploads(port: number, headers: Record<string, string>, count: number) {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      fetch(`http://127.0.0.1:${port}/api/upload`, {
        method: "POST",
        headers: { ...headers, "Content-Type": "application/json", Connection: "close" },
        body: JSON.stringify({ filename: `parallel-${i}.txt`, content: `upload ${i}` }),
      }).then(async (response) => ({ status: response.status, body: (await response.json()) as JsonBody })),
    ),
  );
}

describe("one stateful session under parallel requests", () => {
  it("lists all 20 parallel uploads in the session view", async () => {
    const { app } = statefulApp();
    const server = http.createServer(app).listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      await request(app).post("/api/users").send({ username: "kate", password: "password-five" });
      const sessionId = (
        await request(app).post("/api/session/start").send({ username: "kate", password: "password-five" })
      ).body.session_id;

      const results = await parallelUploads(port, { "X-Session-ID": sessionId }, 20);
      expect(results.map((result) => result.status)).toEqual(Array(20).fill(201));

      const view = await request(app).get("/api/session").set("X-Session-ID", sessionId);
      expect(view.body.files_uploaded).toHaveLength(20);
      expect(new Set(view.body.files_uploaded)).toEqual(new Set(results.map((result) => result.body.file_id)));
      expect(view.body.request_count).toBe(21);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe("idempotent uploads", () => {
  it("answers a repeated Idempotency-Key with the first file_id and makes no second file", async () => {
    const { app } = statefulApp();
    await request(app).post("/api/users").send({ username: "liam", password: "password-six" });
    const sessionId = (
      await request(app).post("/api/session/start").send({ username: "liam", password: "password-six" })
    ).body.session_id;
    const send = (content: string) =>
      request(app)
        .post("/api/upload")
        .set("X-Session-ID", sessionId)
        .set("Idempotency-Key", "retry-me-1")
        .send({ filename: "once.txt", content });

    const first = await send("first");
    const replay = await send("first");
    const changed = await send("a different body with the same key");
    expect(first.status).toBe(201);
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(first.body);
    expect(changed.body.file_id).toBe(first.body.file_id);

    const list = await request(app).get("/api/files").set("X-Session-ID", sessionId);
    expect(list.body.files).toHaveLength(1);
    const read = await request(app).get(first.body.url).set("X-Session-ID", sessionId);
    expect(read.body.content).toBe("first"); // the first result stands
    const view = await request(app).get("/api/session").set("X-Session-ID", sessionId);
    expect(view.body.files_uploaded).toEqual([first.body.file_id]);
  });

  it("makes one file from the same key sent in parallel", async () => {
    const app = statelessApp();
    await request(app).post("/api/users").send({ username: "mia", password: "password-seven" });
    const auth = basic("mia", "password-seven");
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        request(app)
          .post("/api/upload")
          .set("Authorization", auth)
          .set("Idempotency-Key", "same-key")
          .send({ filename: "x.txt", content: "x" }),
      ),
    );
    expect(results.filter((result) => result.status === 201)).toHaveLength(1);
    expect(results.filter((result) => result.status === 200)).toHaveLength(9);
    expect(new Set(results.map((result) => result.body.file_id)).size).toBe(1);
    expect((await request(app).get("/api/files").set("Authorization", auth)).body.files).toHaveLength(1);
  });

  it("gives the same key from two users two different files", async () => {
    const app = statelessApp();
    const ids: string[] = [];
    for (const username of ["nina", "omar"]) {
      await request(app).post("/api/users").send({ username, password: "password-eight" });
      const upload = await request(app)
        .post("/api/upload")
        .set("Authorization", basic(username, "password-eight"))
        .set("Idempotency-Key", "shared-key")
        .send({ filename: "x.txt", content: username });
      expect(upload.status).toBe(201);
      ids.push(upload.body.file_id);
    }
    expect(ids[0]).not.toBe(ids[1]);
  });
});

describe("two server processes sharing one DATA_DIR", () => {
  it("reads through one process a file stored through the other", async () => {
    const dataDir = makeTempDir("shared-data");
    const [a, b] = await Promise.all([
      startServer("stateless", { env: { DATA_DIR: dataDir } }),
      startServer("stateless", { env: { DATA_DIR: dataDir } }),
    ]);
    const json = { "Content-Type": "application/json" };
    const auth = { ...json, Authorization: basic("pat", "password-nine") };
    expect(
      (
        await fetch(`${a.url}/api/users`, {
          method: "POST",
          headers: json,
          body: JSON.stringify({ username: "pat", password: "password-nine" }),
        })
      ).status,
    ).toBe(201);
    const upload = await fetch(`${a.url}/api/upload`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ filename: "shared.txt", content: "from A" }),
    });
    expect(upload.headers.get("X-Served-By")).toBe(a.serverId);
    const { file_id } = (await upload.json()) as JsonBody;

    const read = await fetch(`${b.url}/api/files/${file_id}`, { headers: auth });
    expect(read.status).toBe(200);
    expect(read.headers.get("X-Served-By")).toBe(b.serverId);
    expect(a.serverId).not.toBe(b.serverId);
    expect(((await read.json()) as JsonBody).content).toBe("from A");
  });

  it("registers one name from both processes at once exactly once", async () => {
    const dataDir = makeTempDir("shared-data");
    const [a, b] = await Promise.all([
      startServer("stateful", { env: { DATA_DIR: dataDir } }),
      startServer("stateful", { env: { DATA_DIR: dataDir } }),
    ]);
    // Several names, each raced from both processes: one race could be won by luck.
    for (let round = 0; round < 10; round += 1) {
      const body = JSON.stringify({ username: `racer-${round}`, password: `password-${round}-from-a` });
      const other = JSON.stringify({ username: `racer-${round}`, password: `password-${round}-from-b` });
      const init = (text: string) => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: text });
      const statuses = await Promise.all([
        fetch(`${a.url}/api/users`, init(body)),
        fetch(`${b.url}/api/users`, init(other)),
      ]);
      expect(statuses.map((response) => response.status).sort()).toEqual([201, 409]);
      const winner = statuses[0].status === 201 ? body : other;
      // The record that won is whole and is the one that logs in, through either process.
      const login = await fetch(`${b.url}/api/session/start`, init(winner));
      expect(login.status).toBe(201);
    }
  });
});
