// The jwt design refuses every token it did not sign itself with HS256, every expired token
// and every logged-out token, each with its own 401 code (docs/api-reference.md, "Errors";
// docs/transition-to-phase2.md, "The other road: jwt").

import { SignJWT } from "jose";
import request from "supertest";
import { stopEverything } from "../../scripts/processes/managed-process";
import { RedisServer, startRedis } from "../../scripts/processes/redis";
import { closeAllApps, connected, phase2App, TEST_SECRET } from "../../test-support/phase2-apps";
import { usePostgres } from "../../test-support/postgres";
import type { Express } from "express";

usePostgres(); // the apps' users and files; this file starts its own Redis

let redis: RedisServer;
let app: Express;
let token: string;
beforeAll(async () => {
  redis = await startRedis();
  app = (await connected(phase2App("jwt", redis.url, { sessionTtlSeconds: 600 }))).app;
  await request(app).post("/api/users").send({ username: "jules", password: "password-ok" });
  token = (await request(app).post("/api/login").send({ username: "jules", password: "password-ok" })).body.token;
});
afterAll(async () => {
  await closeAllApps();
  await stopEverything();
});

/** A token for jules signed here, by default as the app signs its own: HS256, the app's secret, 10 minutes. */
function signed(options: { jti: string; alg?: string; secret?: string; issuedAt?: number; expires?: number | string }) {
  const { jti, alg = "HS256", secret = TEST_SECRET, issuedAt, expires = "10m" } = options;
  return new SignJWT({})
    .setProtectedHeader({ alg })
    .setSubject("jules")
    .setJti(jti)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expires)
    .sign(new TextEncoder().encode(secret));
}
const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

async function expectRefused(authorization: string, code: string) {
  const response = await request(app).get("/api/files").set("Authorization", authorization);
  expect(response.status).toBe(401);
  expect(response.body.error).toBe(code);
}

describe("tokens the jwt design refuses", () => {
  it("accepts its own token, whose lifetime is fixed at SESSION_TTL_SECONDS", async () => {
    expect((await request(app).get("/api/files").set("Authorization", `Bearer ${token}`)).status).toBe(200);
    const [header, payload] = token
      .split(".")
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, "base64url").toString()));
    expect(header.alg).toBe("HS256");
    expect(payload.sub).toMatch(/^[0-9a-f]{32}$/); // the user's immutable id, never the name
    expect(payload.name).toBe("jules");
    expect(payload.jti).toMatch(/^[0-9a-f]{32}$/);
    expect(payload.exp - payload.iat).toBe(600);
  });

  it("refuses a token whose signature was tampered with (first character changed)", async () => {
    const [header, payload, signature] = token.split(".");
    const tampered = `${signature[0] === "A" ? "B" : "A"}${signature.slice(1)}`;
    await expectRefused(`Bearer ${header}.${payload}.${tampered}`, "invalid_token");
  });

  it("refuses a token whose payload was changed to another user", async () => {
    const [header, payload, signature] = token.split(".");
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    await expectRefused(`Bearer ${header}.${base64url({ ...claims, sub: "admin" })}.${signature}`, "invalid_token");
  });

  it("refuses an unsigned token (alg: none)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${base64url({ alg: "none", typ: "JWT" })}.${base64url({ sub: "jules", jti: "x".repeat(32), iat: now, exp: now + 600 })}.`;
    await expectRefused(`Bearer ${unsigned}`, "invalid_token");
  });

  it("refuses a token signed with another algorithm, even with the right secret", async () => {
    const hs512 = await signed({ alg: "HS512", jti: "a".repeat(32) });
    await expectRefused(`Bearer ${hs512}`, "invalid_token");
  });

  it("refuses a token signed with another secret", async () => {
    const forged = await signed({ secret: "another-secret-of-at-least-32-characters", jti: "b".repeat(32) });
    await expectRefused(`Bearer ${forged}`, "invalid_token");
  });

  it("refuses an expired token with token_expired", async () => {
    const past = Math.floor(Date.now() / 1000) - 3600;
    const expired = await signed({ jti: "c".repeat(32), issuedAt: past, expires: past + 60 });
    await expectRefused(`Bearer ${expired}`, "token_expired");
  });

  it("refuses a token that says it was issued a year from now, even signed with the secret", async () => {
    const ahead = Math.floor(Date.now() / 1000) + 365 * 24 * 3600;
    const future = await signed({ jti: "e".repeat(32), issuedAt: ahead, expires: ahead + 600 });
    await expectRefused(`Bearer ${future}`, "invalid_token");
    const skewed = await signed({ jti: "f".repeat(32), issuedAt: Math.floor(Date.now() / 1000) + 30 });
    expect((await request(app).get("/api/files").set("Authorization", `Bearer ${skewed}`)).status).toBe(200); // within a minute's clock skew
  });

  it("refuses a token older than JWT_MAX_AGE (here the 600 s lifetime), whatever its exp says", async () => {
    const twoHoursAgo = Math.floor(Date.now() / 1000) - 7200;
    const tenYears = await signed({
      jti: "d".repeat(32),
      issuedAt: twoHoursAgo,
      expires: twoHoursAgo + 10 * 365 * 24 * 3600,
    });
    await expectRefused(`Bearer ${tenYears}`, "invalid_token");
  });

  it("refuses a logged-out token with token_revoked, and keeps the deny-list entry only as long as the token lives", async () => {
    const spare = (await request(app).post("/api/login").send({ username: "jules", password: "password-ok" })).body
      .token;
    expect((await request(app).post("/api/logout").set("Authorization", `Bearer ${spare}`)).status).toBe(200);
    await expectRefused(`Bearer ${spare}`, "token_revoked");
    // The deny-list check runs alongside a read, and its refusal wins over the read's own answer.
    const missing = await request(app)
      .get(`/api/files/${"0".repeat(32)}`)
      .set("Authorization", `Bearer ${spare}`);
    expect({ status: missing.status, error: missing.body.error }).toEqual({ status: 401, error: "token_revoked" });
    const upload = await request(app)
      .post("/api/upload")
      .set("Authorization", `Bearer ${spare}`)
      .send({ filename: "no.txt", content: "no" });
    expect({ status: upload.status, error: upload.body.error }).toEqual({ status: 401, error: "token_revoked" });
    const jti = JSON.parse(Buffer.from(spare.split(".")[1], "base64url").toString()).jti;
    const { client } = await connected(phase2App("jwt", redis.url));
    const keys = await client.keys(`*revoked:${jti}`);
    expect(keys).toHaveLength(1);
    const ttl = await client.ttl(keys[0]);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
    // The other token of the same user still works: logout revokes one token, not the user.
    expect((await request(app).get("/api/files").set("Authorization", `Bearer ${token}`)).status).toBe(200);
  });

  it.each([
    ["no Authorization header", "missing_credentials", undefined],
    ["a Bearer value that is not a JWT", "invalid_token", "Bearer not-a-jwt"],
    ["a Basic header", "invalid_token", `Basic ${Buffer.from("jules:password-ok").toString("base64")}`],
    ["an enormous bearer value", "invalid_token", `Bearer ${"a".repeat(6000)}.${"b".repeat(10)}.${"c".repeat(10)}`],
  ])("answers %s with 401 %s", async (_what, code, header) => {
    const pending = request(app).get("/api/files");
    const response = header === undefined ? await pending : await pending.set("Authorization", header);
    expect(response.status).toBe(401);
    expect(response.body.error).toBe(code);
  });
});
