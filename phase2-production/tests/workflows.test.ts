// Every phase-2 design end to end, with a cookie-keeping agent (or a bearer token), against a
// real redis-server: register, log in, upload, list, read, look at the session, delete, log
// out, and be refused afterwards. Every endpoint is in docs/api-reference.md.

import request from "supertest";
import { connected, phase2App, useStores } from "../../test-support/phase2-apps";

const redisProcess = useStores();

const user = { username: "alice", password: "password-one" };

describe.each(["memory-session", "redis-session", "cached-session"] as const)("the %s design", (design) => {
  it("serves the whole workflow to a client that keeps its cookie", async () => {
    const { app } = await connected(phase2App(design, redisProcess().url));
    const agent = request.agent(app);
    expect((await agent.post("/api/users").send(user)).status).toBe(201);

    const login = await agent.post("/api/login").send(user);
    expect(login.status).toBe(200);
    expect(login.body).toEqual({ username: "alice", expires_in: 1800 });
    const cookie = String(login.headers["set-cookie"]);
    expect(cookie).toMatch(/^sid=s%3A/); // signed
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).not.toMatch(/Secure/);
    expect(cookie).toMatch(/Expires=/);

    const upload = await agent
      .post("/api/upload")
      .set("Idempotency-Key", "first-upload")
      .send({ filename: "a.txt", content: "héllo" });
    expect(upload.status).toBe(201);
    const replay = await agent
      .post("/api/upload")
      .set("Idempotency-Key", "first-upload")
      .send({ filename: "a.txt", content: "héllo" });
    expect(replay.status).toBe(200);
    expect(replay.body.file_id).toBe(upload.body.file_id);

    const list = await agent.get("/api/files");
    expect(list.body.files).toEqual([
      { file_id: upload.body.file_id, filename: "a.txt", size: 6, created_at: expect.any(String) },
    ]);
    const read = await agent.get(upload.body.url);
    expect(read.body).toMatchObject({ file_id: upload.body.file_id, content: "héllo", size: 6 });

    const view = await agent.get("/api/session");
    expect(view.status).toBe(200);
    expect(view.body).toEqual({
      username: "alice",
      created_at: expect.any(String),
      last_activity: expect.any(String),
      request_count: 5, // upload, replay, list, read, and this view
      files_uploaded: [upload.body.file_id],
    });

    expect((await agent.delete(upload.body.url)).status).toBe(200);
    expect((await agent.get(upload.body.url)).status).toBe(404);

    const logout = await agent.post("/api/logout");
    expect(logout.status).toBe(200);
    // The clearing cookie carries the same flags as the one it clears.
    expect(String(logout.headers["set-cookie"])).toMatch(
      /^sid=; Path=\/; Expires=Thu, 01 Jan 1970 [^;]*; HttpOnly; SameSite=Lax$/,
    );
    const after = await request(app).get("/api/files").set("Cookie", cookie.split(";")[0]);
    expect(after.status).toBe(401);
    expect(after.body.error).toBe("session_not_found");
  });

  it("asks for a login without a cookie, and refuses a tampered or unsigned one", async () => {
    const { app } = await connected(phase2App(design, redisProcess().url));
    await request(app).post("/api/users").send(user);
    const none = await request(app).get("/api/session");
    expect(none.status).toBe(401);
    expect(none.body.error).toBe("missing_session");

    const login = await request(app).post("/api/login").send(user);
    const good = String(login.headers["set-cookie"]).split(";")[0];
    expect((await request(app).get("/api/session").set("Cookie", good)).status).toBe(200);
    // Change one character of the session id, keep the signature: the signature no longer matches.
    const [, value] = good.split("=");
    const tampered = `sid=${value.slice(0, 6)}${value[6] === "A" ? "B" : "A"}${value.slice(7)}`;
    const unsigned = `sid=${decodeURIComponent(value).slice(2).split(".")[0]}`;
    for (const cookie of [tampered, unsigned, "sid=s%3Aforged.c2lnbmF0dXJl"]) {
      const response = await request(app).get("/api/session").set("Cookie", cookie);
      expect(response.status).toBe(401);
      expect(response.body.error).toBe("session_not_found");
    }
  });

  it("gives a new session id at login, so a planted id is worthless", async () => {
    const { app } = await connected(phase2App(design, redisProcess().url));
    await request(app).post("/api/users").send(user);
    const agent = request.agent(app);
    const first = String((await agent.post("/api/login").send(user)).headers["set-cookie"]).split(";")[0];
    const second = String((await agent.post("/api/login").send(user)).headers["set-cookie"]).split(";")[0];
    expect(second).not.toBe(first);
    // The session that the agent had before its second login is gone: no fixation.
    expect((await request(app).get("/api/session").set("Cookie", first)).body.error).toBe("session_not_found");
    expect((await request(app).get("/api/session").set("Cookie", second)).status).toBe(200);
  });

  it("refuses a wrong password with 401 invalid_credentials", async () => {
    const { app } = await connected(phase2App(design, redisProcess().url));
    await request(app).post("/api/users").send(user);
    const response = await request(app).post("/api/login").send({ username: "alice", password: "wrong-password" });
    expect(response.status).toBe(401);
    expect(response.body.error).toBe("invalid_credentials");
    expect(response.headers["set-cookie"]).toBeUndefined();
  });
});

describe("the session cookie with COOKIE_SECURE=true", () => {
  it("is marked Secure", async () => {
    const { app } = await connected(
      phase2App("redis-session", redisProcess().url, { cookieSecure: true, trustProxyHops: 1 }),
    );
    await request(app).post("/api/users").send(user);
    // Through one proxy that terminated TLS (TRUST_PROXY_HOPS=1): express-session sees https.
    const login = await request(app).post("/api/login").set("X-Forwarded-Proto", "https").send(user);
    expect(String(login.headers["set-cookie"])).toMatch(/; Secure/);
  });
});

describe("the jwt design", () => {
  it("serves the whole workflow to a client that sends its bearer token", async () => {
    const { app } = await connected(phase2App("jwt", redisProcess().url));
    expect((await request(app).post("/api/users").send(user)).status).toBe(201);
    const login = await request(app).post("/api/login").send(user);
    expect(login.status).toBe(200);
    expect(login.body).toEqual({ token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/), expires_in: 1800 });
    expect(login.headers["set-cookie"]).toBeUndefined();
    const auth = { Authorization: `Bearer ${login.body.token}` };

    const upload = await request(app).post("/api/upload").set(auth).send({ filename: "t.txt", content: "token" });
    expect(upload.status).toBe(201);
    expect((await request(app).get("/api/files").set(auth)).body.files).toHaveLength(1);
    expect((await request(app).get(upload.body.url).set(auth)).body.content).toBe("token");
    const view = await request(app).get("/api/session").set(auth);
    expect(view.status).toBe(404);
    expect(view.body.error).toBe("not_found");
    expect((await request(app).delete(upload.body.url).set(auth)).status).toBe(200);

    expect((await request(app).post("/api/logout").set(auth)).status).toBe(200);
    const after = await request(app).get("/api/files").set(auth);
    expect(after.status).toBe(401);
    expect(after.body.error).toBe("token_revoked");
  });
});
