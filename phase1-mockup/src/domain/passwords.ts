// Password hashing with scrypt from node:crypto. The stored hash records its own parameters
// (`scrypt$<cost>$<salt>$<hash>`), so raising PASSWORD_HASH_COST later locks nobody out, and
// the comparison is constant-time so that timing tells an attacker nothing. A password is
// hashed and compared in Unicode's NFC form, so that "ä" typed as one character or as "a" and a
// combining mark is the same password, whichever keyboard typed it.
//
// The stateless design pays this price on every request (tens of milliseconds of CPU at cost
// 14, measured in docs/results.md): that is the "re-authenticates every time" row of the
// trade-off table in docs/concepts.md.

import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

const KEY_LENGTH = 32;
const BLOCK_SIZE = 8; // scrypt's r
const PARALLELISM = 1; // scrypt's p

function deriveKey(password: string, salt: Buffer, cost: number): Promise<Buffer> {
  const N = 2 ** cost;
  // scrypt needs 128 * N * r bytes; allow twice that so cost 14 (16 MiB) and above never fail.
  const maxmem = 256 * N * BLOCK_SIZE;
  return new Promise((resolve, reject) => {
    // The async form runs on libuv's thread pool, so hashing does not block other requests.
    scrypt(password, salt, KEY_LENGTH, { N, r: BLOCK_SIZE, p: PARALLELISM, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

export async function hashPassword(password: string, cost: number): Promise<string> {
  const salt = randomBytes(16);
  const key = await deriveKey(password.normalize("NFC"), salt, cost);
  return `scrypt$${cost}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** True when `password` matches `stored`; false for a wrong password or a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  return (await checkPassword(password, stored)) !== "mismatch";
}

/**
 * "match", "mismatch", or "match-unnormalised": the password matched a hash made before
 * passwords were normalised, in the form typed then; the caller hashes it anew (users.ts), so
 * that the next login compares once.
 */
export async function checkPassword(
  password: string,
  stored: string,
): Promise<"match" | "match-unnormalised" | "mismatch"> {
  const [scheme, costText, saltText, keyText] = stored.split("$");
  const cost = Number(costText);
  if (scheme !== "scrypt" || !Number.isInteger(cost) || cost < 1 || cost > 20 || !saltText || !keyText) {
    return "mismatch";
  }
  const expected = Buffer.from(keyText, "base64");
  const salt = Buffer.from(saltText, "base64");
  const matches = async (form: string) => {
    const actual = await deriveKey(form, salt, cost);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  };
  const normalized = password.normalize("NFC");
  if (await matches(normalized)) return "match";
  // A hash made before passwords were normalised holds the form that was typed then: it keeps working.
  return normalized !== password && (await matches(password)) ? "match-unnormalised" : "mismatch";
}
