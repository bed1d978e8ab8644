// The stateless design end to end: register once, then prove who you are on every request
// (docs/concepts.md, "Stateless trade-offs"; every endpoint in docs/api-reference.md).

import request from "supertest";
import { basic, statelessApp } from "../../test-support/phase1-apps";
import { removeTempDirs } from "../../test-support/temp-dir";

afterAll(removeTempDirs);

describe("the stateless server", () => {
  const app = statelessApp();
  const auth = basic("alice", "password-one");

  it("registers a user and refuses the same name twice", async () => {
    const created = await request(app).post("/api/users").send({ username: "alice", password: "password-one" });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ username: "alice" });
    const again = await request(app).post("/api/users").send({ username: "alice", password: "another-password" });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe("user_exists");
  });

  it("uploads, lists, reads and deletes a file with credentials on every request", async () => {
    const upload = await request(app)
      .post("/api/upload")
      .set("Authorization", auth)
      .send({ filename: "notes.txt", content: "héllo" });
    expect(upload.status).toBe(201);
    expect(upload.body.file_id).toMatch(/^[0-9a-f]{32}$/);
    expect(upload.body.url).toBe(`/api/files/${upload.body.file_id}`);

    const list = await request(app).get("/api/files").set("Authorization", auth);
    expect(list.status).toBe(200);
    expect(list.body.files).toEqual([
      { file_id: upload.body.file_id, filename: "notes.txt", size: 6, created_at: expect.any(String) },
    ]);

    const read = await request(app).get(upload.body.url).set("Authorization", auth);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ file_id: upload.body.file_id, filename: "notes.txt", content: "héllo", size: 6 });
    expect(read.body.owner).toBeUndefined();

    const removed = await request(app).delete(upload.body.url).set("Authorization", auth);
    expect(removed.status).toBe(200);
    expect(removed.body.message).toEqual(expect.any(String));
    expect((await request(app).get(upload.body.url).set("Authorization", auth)).status).toBe(404);
    expect((await request(app).get("/api/files").set("Authorization", auth)).body.files).toEqual([]);
  });

  it("forgets the user between requests: no credentials, no service", async () => {
    const response = await request(app).get("/api/files");
    expect(response.status).toBe(401);
    expect(response.body.error).toBe("missing_credentials");
    expect(response.headers["www-authenticate"]).toMatch(/^Basic realm=/);
  });

  it("refuses a wrong password and an unknown user alike", async () => {
    for (const header of [basic("alice", "wrong-password"), basic("nobody", "password-one")]) {
      const response = await request(app).get("/api/files").set("Authorization", header);
      expect(response.status).toBe(401);
      expect(response.body.error).toBe("invalid_credentials");
      expect(response.headers["www-authenticate"]).toMatch(/^Basic/);
    }
  });

  it("keeps no session view", async () => {
    const response = await request(app).get("/api/session").set("Authorization", auth);
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ error: "not_found", message: expect.stringContaining("keeps no session") });
  });

  it("names itself on every response and echoes a sane request id", async () => {
    const health = await request(app).get("/health").set("X-Request-ID", "trace-42");
    expect(health.status).toBe(200);
    expect(health.body).toEqual({
      status: "ok",
      design: "stateless",
      server_id: "test-instance",
      pid: process.pid,
      uptime_s: expect.any(Number),
    });
    expect(health.headers["x-served-by"]).toBe("test-instance");
    expect(health.headers["x-request-id"]).toBe("trace-42");
    const unsafe = await request(app).get("/api/nothing").set("X-Request-ID", "bad id\twith tab");
    expect(unsafe.headers["x-served-by"]).toBe("test-instance");
    expect(unsafe.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect((await request(app).get("/ready")).status).toBe(200);
  });
});
