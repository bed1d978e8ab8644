// Defences checked the same way in both phases (docs/api-reference.md, "What the servers defend
// against"): after a wipe of the store (DATA_DIR, or PostgreSQL and Redis) the name "alice" registered again by
// someone else is a new account that no credential from before the wipe reaches; and the quota,
// with uploads named by their Idempotency-Key.

import request from "supertest";

type App = Parameters<typeof request>[0];
type User = { username: string; password: string };
type Proof = Record<string, string>;

/**
 * Registers alice, logs her in and uploads, wipes the store, lets a second alice do the same, then
 * checks that the first alice's credential (still accepted: it lives in memory or in the client)
 * sees none of the second alice's files and that what it writes stays out of her sight.
 */
export async function expectOldCredentialKeptApart(
  app: App,
  logIn: (user: User) => Promise<Proof>,
  wipe: () => unknown,
): Promise<void> {
  const registered = async (user: User, filename: string): Promise<Proof> => {
    await request(app).post("/api/users").send(user).expect(201);
    const proof = await logIn(user);
    await request(app).post("/api/upload").set(proof).send({ filename, content: user.password }).expect(201);
    return proof;
  };
  const old = await registered({ username: "alice", password: "password-one" }, "old.txt");
  await wipe();
  const fresh = await registered({ username: "alice", password: "another-password" }, "secret.txt");

  const listed = await request(app).get("/api/files").set(old);
  expect(listed.status).toBe(200);
  expect(listed.body.files).toEqual([]);
  const written = await request(app).post("/api/upload").set(old).send({ filename: "planted.txt", content: "x" });
  expect(written.status).toBe(201);
  const freshFiles = await request(app).get("/api/files").set(fresh);
  expect(freshFiles.body.files.map((file: { filename: string }) => file.filename)).toEqual(["secret.txt"]);
  expect((await request(app).get(`/api/files/${written.body.file_id}`).set(fresh)).status).toBe(404);
}

/** Uploads as one user, each named after its Idempotency-Key, so that the same key is a replay. */
export function keyedUploads(app: App, proof: Proof): (key: string, content: string) => request.Test {
  return (key, content) =>
    request(app)
      .post("/api/upload")
      .set(proof)
      .set("Idempotency-Key", key)
      .send({ filename: `${key}.txt`, content });
}
