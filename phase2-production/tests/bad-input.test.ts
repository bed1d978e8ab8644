// Bad input on phase 2: the same validation code as phase 1 answers the same way, plus the
// inputs that only phase 2 meets (cookies, a login flood). The server keeps serving.
// Every code is listed in docs/api-reference.md ("Errors", "Rate limit").

import request from "supertest";
import { connected, phase2App, useStores } from "../../test-support/phase2-apps";

const redisProcess = useStores();

const credentials = { username: "petra", password: "password-ok" };

describe.each(["memory-session", "redis-session", "cached-session", "jwt"] as const)(
  "the %s design given bad input",
  (design) => {
    it("answers each bad request with the status and code of the API reference, and keeps serving", async () => {
      const { app } = await connected(phase2App(design, redisProcess().url, { maxFileBytes: 100 }));
      await request(app).post("/api/users").send(credentials);
      const login = await request(app).post("/api/login").send(credentials);
      const auth: Record<string, string> =
        design === "jwt"
          ? { Authorization: `Bearer ${login.body.token}` }
          : { Cookie: String(login.headers["set-cookie"]).split(";")[0] };

      const cases: Array<[request.Test, number, string]> = [
        [
          request(app).post("/api/upload").set(auth).set("Content-Type", "application/json").send("{broken"),
          400,
          "invalid_json",
        ],
        [
          request(app).post("/api/upload").set(auth).set("Content-Type", "text/plain").send("hello"),
          415,
          "unsupported_media_type",
        ],
        [request(app).post("/api/upload").set(auth).send({ content: "x" }), 400, "validation_error"],
        [request(app).post("/api/upload").set(auth).send({ filename: "../x", content: "x" }), 400, "validation_error"],
        [
          request(app)
            .post("/api/upload")
            .set(auth)
            .send({ filename: "big.txt", content: "x".repeat(101) }),
          413,
          "payload_too_large",
        ],
        [
          request(app).post("/api/users").send({ username: "No Spaces", password: "password-ok" }),
          400,
          "validation_error",
        ],
        [request(app).post("/api/login").send({ username: "petra" }), 400, "validation_error"],
        [request(app).post("/api/users").send(credentials), 409, "user_exists"],
        [
          request(app)
            .get(`/api/files/${"0".repeat(32)}`)
            .set(auth),
          404,
          "not_found",
        ],
        [request(app).get("/api/unknown"), 404, "not_found"],
        [request(app).get("/api/files/%ZZ").set(auth), 400, "validation_error"],
        [
          request(app)
            .post("/api/upload")
            .set(auth)
            .set("Content-Type", "application/json")
            .set("Content-Encoding", "gzip")
            .send('{"filename":"a"}'),
          400,
          "invalid_json",
        ],
      ];
      for (const [pending, status, code] of cases) {
        const response = await pending;
        expect({ status: response.status, error: response.body.error }).toEqual({ status, error: code });
        expect(response.body.message).toEqual(expect.any(String));
      }
      expect((await request(app).get("/api/files").set(auth)).status).toBe(200);
    });
  },
);

describe("cookies the session designs meet", () => {
  it("answer an enormous or mangled sid cookie with 401 session_not_found", async () => {
    const { app } = await connected(phase2App("redis-session", redisProcess().url));
    for (const cookie of [`sid=${"a".repeat(8000)}`, "sid=%E0%A4%A", "sid=s%3A.", "sid="]) {
      const response = await request(app).get("/api/session").set("Cookie", cookie);
      expect(response.status).toBe(401);
      expect(response.body.error).toBe("session_not_found");
    }
  });

  it("never creates a stored session for a request that did not log in", async () => {
    const { app, client } = await connected(phase2App("redis-session", redisProcess().url, { keyPrefix: "no-login:" }));
    for (let i = 0; i < 5; i += 1) await request(app).get("/api/files");
    await request(app).get("/health");
    await request(app).post("/api/login").send({ username: "nobody", password: "wrong-password" });
    expect(await client.keys("no-login:sess:*")).toEqual([]);
  });
});

describe("a login flood", () => {
  it("meets 429 too_many_requests, counted in Redis across instances", async () => {
    const shared = { rateLimitPerMinute: 5, keyPrefix: `flood-${Date.now()}:` };
    const a = (await connected(phase2App("redis-session", redisProcess().url, shared))).app;
    const b = (await connected(phase2App("redis-session", redisProcess().url, shared))).app;
    await request(a).post("/api/users").send(credentials); // 1 of 5
    const statuses: number[] = [];
    for (const app of [a, b, a, b, a, b]) {
      statuses.push(
        (
          await request(app)
            .post("/api/login")
            .send({ ...credentials, password: "wrong-password" })
        ).status,
      );
    }
    // Four more attempts fit in the limit of five (whichever instance took them); then 429.
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    const limited = await request(b).post("/api/login").send(credentials);
    expect(limited.status).toBe(429);
    expect(limited.body.error).toBe("too_many_requests");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    // Only logins and sign-ups are limited: other requests go on.
    expect((await request(a).get("/health")).status).toBe(200);
  });
});

describe("metrics", () => {
  it("counts requests by route and status, sessions created and Redis command latency", async () => {
    const { app } = await connected(phase2App("redis-session", redisProcess().url));
    await request(app).post("/api/users").send(credentials);
    await request(app).post("/api/login").send(credentials);
    const metrics = await request(app).get("/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.headers["content-type"]).toMatch(/^text\/plain/);
    expect(metrics.text).toMatch(/lab_http_requests_total\{method="POST",route="\/api\/login",status="200"[^}]*\} 1/);
    expect(metrics.text).toMatch(/lab_sessions_created_total\{[^}]*\} 1/);
    expect(metrics.text).toMatch(
      /lab_redis_command_duration_seconds_count\{[^}]*command="set",outcome="ok"[^}]*\} [1-9]/,
    );
    expect(metrics.text).toMatch(/lab_store_errors_total\{[^}]*\} 0/);
  });
});
