// The stateful design end to end: prove who you are once, then carry a session id
// (docs/concepts.md, "Stateful trade-offs"; every endpoint in docs/api-reference.md).

import request from "supertest";
import { statefulApp } from "../../test-support/phase1-apps";
import { removeTempDirs } from "../../test-support/temp-dir";

afterAll(removeTempDirs);

describe("the stateful server", () => {
  const { app, sessions } = statefulApp();

  beforeAll(async () => {
    expect((await request(app).post("/api/users").send({ username: "bob", password: "password-two" })).status).toBe(
      201,
    );
  });

  async function startSession(): Promise<string> {
    const response = await request(app).post("/api/session/start").send({ username: "bob", password: "password-two" });
    expect(response.status).toBe(201);
    expect(response.body).toEqual({ session_id: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expires_in: 1800 });
    return response.body.session_id;
  }

  it("starts a session only for the right password", async () => {
    const wrong = await request(app).post("/api/session/start").send({ username: "bob", password: "not-his-password" });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe("invalid_credentials");
    const unknown = await request(app)
      .post("/api/session/start")
      .send({ username: "nobody", password: "password-two" });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toBe("invalid_credentials");
    const before = sessions.size;
    await startSession();
    expect(sessions.size).toBe(before + 1);
  });

  it("uploads, lists, reads and deletes with only a session id, and the session remembers", async () => {
    const sessionId = await startSession();
    const upload = await request(app)
      .post("/api/upload")
      .set("X-Session-ID", sessionId)
      .send({ filename: "a.txt", content: "abc" });
    expect(upload.status).toBe(201);
    const fileId = upload.body.file_id;

    const list = await request(app).get("/api/files").set("X-Session-ID", sessionId);
    expect(list.body.files.map((file: { file_id: string }) => file.file_id)).toContain(fileId);
    const read = await request(app).get(`/api/files/${fileId}`).set("X-Session-ID", sessionId);
    expect(read.body).toMatchObject({ file_id: fileId, filename: "a.txt", content: "abc", size: 3 });

    const view = await request(app).get("/api/session").set("X-Session-ID", sessionId);
    expect(view.status).toBe(200);
    expect(view.body).toEqual({
      username: "bob",
      created_at: expect.any(String),
      last_activity: expect.any(String),
      request_count: 4, // upload, list, read, and this view
      files_uploaded: [fileId],
    });

    expect((await request(app).delete(`/api/files/${fileId}`).set("X-Session-ID", sessionId)).status).toBe(200);
    expect((await request(app).get(`/api/files/${fileId}`).set("X-Session-ID", sessionId)).status).toBe(404);
  });

  it("asks for a session when none is sent, and refuses one it never made", async () => {
    const none = await request(app).get("/api/files");
    expect(none.status).toBe(401);
    expect(none.body.error).toBe("missing_session");
    const made_up = await request(app).get("/api/files").set("X-Session-ID", "x".repeat(43));
    expect(made_up.status).toBe(401);
    expect(made_up.body.error).toBe("session_not_found");
  });

  it("ends a session: the id is refused afterwards", async () => {
    const sessionId = await startSession();
    const end = await request(app).post("/api/session/end").set("X-Session-ID", sessionId);
    expect(end.status).toBe(200);
    expect(end.body.message).toEqual(expect.any(String));
    const after = await request(app).get("/api/session").set("X-Session-ID", sessionId);
    expect(after.status).toBe(401);
    expect(after.body.error).toBe("session_not_found");
  });

  it("keeps each user's files to that user: another user's file is not found", async () => {
    expect((await request(app).post("/api/users").send({ username: "carol", password: "password-three" })).status).toBe(
      201,
    );
    const carol = (
      await request(app).post("/api/session/start").send({ username: "carol", password: "password-three" })
    ).body.session_id;
    const bob = await startSession();
    const upload = await request(app)
      .post("/api/upload")
      .set("X-Session-ID", bob)
      .send({ filename: "private.txt", content: "bob's" });
    for (const method of ["get", "delete"] as const) {
      const response = await request(app)[method](`/api/files/${upload.body.file_id}`).set("X-Session-ID", carol);
      expect(response.status).toBe(404);
      expect(response.body.error).toBe("not_found");
    }
    const missing = await request(app)
      .get(`/api/files/${"0".repeat(32)}`)
      .set("X-Session-ID", carol);
    expect(missing.status).toBe(404);
    expect((await request(app).get("/api/files").set("X-Session-ID", carol)).body.files).toEqual([]);
    expect((await request(app).get(`/api/files/${upload.body.file_id}`).set("X-Session-ID", bob)).status).toBe(200);
  });
});
