// Bad input gets a clear JSON error with the status and code listed in docs/api-reference.md
// ("Errors"), and the server keeps serving: each case is followed by a request that must still
// work.

import request from "supertest";
import type { Express } from "express";
import { basic, statefulApp, statelessApp } from "../../test-support/phase1-apps";
import { removeTempDirs } from "../../test-support/temp-dir";

afterAll(removeTempDirs);

const MAX_FILE_BYTES = 1000;

interface Setup {
  app: Express;
  auth: Record<string, string>;
}

async function setUp(design: "stateless" | "stateful"): Promise<Setup> {
  if (design === "stateless") {
    const app = statelessApp({ maxFileBytes: MAX_FILE_BYTES });
    await request(app).post("/api/users").send({ username: "tess", password: "password-ok" });
    return { app, auth: { Authorization: basic("tess", "password-ok") } };
  }
  const { app } = statefulApp({ maxFileBytes: MAX_FILE_BYTES });
  await request(app).post("/api/users").send({ username: "tess", password: "password-ok" });
  const start = await request(app).post("/api/session/start").send({ username: "tess", password: "password-ok" });
  return { app, auth: { "X-Session-ID": start.body.session_id } };
}

describe.each(["stateless", "stateful"] as const)("the %s server given bad input", (design) => {
  let setup: Setup;
  beforeAll(async () => {
    setup = await setUp(design);
  });

  async function expectStillServing() {
    const health = await request(setup.app).get("/api/files").set(setup.auth);
    expect(health.status).toBe(200);
  }

  function upload(body: unknown, headers: Record<string, string> = {}) {
    return request(setup.app)
      .post("/api/upload")
      .set(setup.auth)
      .set(headers)
      .send(body as object);
  }

  /** An upload whose body goes as written, under the given Content-Type. */
  function rawUpload(contentType: string, text: string) {
    return request(setup.app).post("/api/upload").set(setup.auth).set("Content-Type", contentType).send(text);
  }

  async function expectError(response: request.Response, status: number, error: string, field?: string) {
    expect(response.status).toBe(status);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    expect(response.body).toEqual({ error, message: expect.any(String) });
    if (field) expect(response.body.message).toContain(field);
    await expectStillServing();
  }

  it("answers malformed JSON with 400 invalid_json", async () => {
    const response = await rawUpload("application/json", '{"filename": "a.txt",');
    await expectError(response, 400, "invalid_json");
  });

  it("answers a body that is not JSON with 415 unsupported_media_type", async () => {
    const response = await rawUpload("text/plain", "filename=a.txt");
    await expectError(response, 415, "unsupported_media_type");
    const form = await request(setup.app)
      .post("/api/users")
      .type("form")
      .send({ username: "form-user", password: "password-ok" });
    await expectError(form, 415, "unsupported_media_type");
  });

  it("answers a JSON array or a bare value with 400 validation_error", async () => {
    await expectError(await upload(["a.txt", "content"]), 400, "validation_error", "body");
    const bare = await rawUpload("application/json", '"just a string"');
    await expectError(bare, 400, "invalid_json"); // strict JSON parsing refuses a bare value outright
  });

  it.each([
    [{ content: "x" }, "filename"],
    [{ filename: "a.txt" }, "content"],
    [{ filename: 42, content: "x" }, "filename"],
    [{ filename: "a.txt", content: { text: "x" } }, "content"],
  ])("answers missing or mistyped fields %j with 400 naming %s", async (body, field) => {
    await expectError(await upload(body), 400, "validation_error", field);
  });

  it.each([
    ["../x"],
    ["a/b"],
    [".."],
    ["."],
    ["a\\b"],
    ["nul\u0000byte"],
    ["new\nline"],
    ["tab\there"],
    [""],
    ["x".repeat(300)],
  ])("refuses the filename %j with 400 naming filename", async (filename) => {
    await expectError(await upload({ filename, content: "x" }), 400, "validation_error", "filename");
  });

  it("accepts a filename of exactly 255 characters, including non-ASCII ones", async () => {
    const response = await upload({ filename: "é".repeat(255), content: "x" });
    expect(response.status).toBe(201);
  });

  it("answers content over MAX_FILE_BYTES, counted in UTF-8 bytes, with 413", async () => {
    await expectError(
      await upload({ filename: "big.txt", content: "x".repeat(MAX_FILE_BYTES + 1) }),
      413,
      "payload_too_large",
    );
    // 600 characters of 2 bytes each: under the limit in characters, over it in bytes.
    await expectError(await upload({ filename: "big.txt", content: "é".repeat(600) }), 413, "payload_too_large");
    expect((await upload({ filename: "fits.txt", content: "x".repeat(MAX_FILE_BYTES) })).status).toBe(201);
  });

  it("accepts a file within MAX_FILE_BYTES however its JSON is escaped", async () => {
    // 500 characters of 2 UTF-8 bytes, sent as \u00e9 escapes: 1,000 bytes of file, 3,000 of JSON.
    const body = `{"filename":"escaped.txt","content":"${"\\u00e9".repeat(MAX_FILE_BYTES / 2)}"}`;
    const response = await request(setup.app)
      .post("/api/upload")
      .set(setup.auth)
      .set("Content-Type", "application/json")
      .send(body);
    expect(response.status).toBe(201);
  });

  it("answers OPTIONS with a JSON 404, not Express's plain text", async () => {
    await expectError(await request(setup.app).options("/api/files"), 404, "not_found");
  });

  it("answers a body far over the parser's limit with 413 too", async () => {
    const response = await upload({ filename: "huge.txt", content: "x".repeat(MAX_FILE_BYTES * 10) });
    await expectError(response, 413, "payload_too_large");
  });

  it("refuses an Idempotency-Key that is not a sane token", async () => {
    await expectError(
      await upload({ filename: "a.txt", content: "x" }, { "Idempotency-Key": "has spaces" }),
      400,
      "validation_error",
      "Idempotency-Key",
    );
    await expectError(
      await upload({ filename: "a.txt", content: "x" }, { "Idempotency-Key": "k".repeat(200) }),
      400,
      "validation_error",
      "Idempotency-Key",
    );
  });

  it.each([
    [{ username: "ab", password: "password-ok" }, "username"],
    [{ username: "x".repeat(33), password: "password-ok" }, "username"],
    [{ username: "Upper", password: "password-ok" }, "username"],
    [{ username: "dots.not.allowed", password: "password-ok" }, "username"],
    [{ username: "../etc", password: "password-ok" }, "username"],
    [{ username: 12345, password: "password-ok" }, "username"],
    [{ password: "password-ok" }, "username"],
    [{ username: "valid-name", password: "short" }, "password"],
    [{ username: "valid-name", password: "p".repeat(129) }, "password"],
    [{ username: "valid-name", password: 12345678 }, "password"],
    [{ username: "valid-name" }, "password"],
  ])("refuses the registration %j with 400 naming %s", async (body, field) => {
    await expectError(await request(setup.app).post("/api/users").send(body), 400, "validation_error", field);
  });

  it("answers unknown routes with a JSON 404", async () => {
    await expectError(await request(setup.app).get("/api/nothing-here"), 404, "not_found");
    await expectError(await request(setup.app).put("/api/files"), 404, "not_found");
  });

  it("answers a malformed percent-encoding in the path with 400, not 500", async () => {
    await expectError(await request(setup.app).get("/api/files/%ZZ").set(setup.auth), 400, "validation_error");
  });

  it("answers an unknown or malformed file id with 404, like a missing file", async () => {
    for (const id of ["0".repeat(32), "not-an-id", "..%2F..%2Fusers%2Ftess"]) {
      await expectError(await request(setup.app).get(`/api/files/${id}`).set(setup.auth), 404, "not_found");
      await expectError(await request(setup.app).delete(`/api/files/${id}`).set(setup.auth), 404, "not_found");
    }
  });
});

describe("bad credentials on the stateless server", () => {
  let app: Express;
  beforeAll(async () => {
    app = statelessApp();
    await request(app).post("/api/users").send({ username: "uma", password: "password-ok" });
  });

  it.each([
    ["not base64", "Basic !!!not-base64!!!"],
    ["no colon", `Basic ${Buffer.from("umapassword-ok").toString("base64")}`],
    ["another scheme", "Bearer abc.def.ghi"],
    ["no value", "Basic "],
    ["bad padding", "Basic dW1hOnBhc3N3b3JkLW9r="],
  ])("answers a Basic header with %s with 401 and a challenge", async (_what, header) => {
    const response = await request(app).get("/api/files").set("Authorization", header);
    expect(response.status).toBe(401);
    expect(response.body.error).toBe("invalid_credentials");
    expect(response.headers["www-authenticate"]).toMatch(/^Basic/);
    expect((await request(app).get("/api/files").set("Authorization", basic("uma", "password-ok"))).status).toBe(200);
  });
});

describe("bad session ids on the stateful server", () => {
  it.each([
    ["unknown", "A".repeat(43)],
    ["5,000 characters long", "a".repeat(5000)],
    ["full of odd characters", "'; DROP TABLE sessions; --"],
  ])("answers a session id that is %s with 401 session_not_found", async (_what, sessionId) => {
    const { app } = statefulApp();
    const response = await request(app).get("/api/session").set("X-Session-ID", sessionId);
    expect(response.status).toBe(401);
    expect(response.body.error).toBe("session_not_found");
  });

  it("answers a login with malformed fields with 400, not 401", async () => {
    const { app } = statefulApp();
    const response = await request(app).post("/api/session/start").send({ username: "x" });
    expect(response.status).toBe(400);
    expect(response.body.error).toBe("validation_error");
  });
});
