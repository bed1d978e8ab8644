// Input rules shared by every design, given with each endpoint in docs/api-reference.md. Each
// check throws a 400 naming the field, so a client learns which part of its request to fix,
// and nothing unchecked reaches the data store: a filename like "../x" never becomes a path.

import { validationError } from "./errors";

const USERNAME = /^[a-z0-9_-]{3,32}$/;
// C0 and C1 control characters, DEL included: none may appear in a filename.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
// Unicode bidirectional controls: "invoice\u202Efdp.exe" would show as "invoiceexe.pdf".
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{1,128}$/;

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

/** The body must be a JSON object; an array or a bare value names no fields. */
export function requireObject(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== "object" || Array.isArray(body)) {
    throw validationError("body", "must be a JSON object");
  }
  return body as Record<string, unknown>;
}

export function isValidUsername(value: unknown): value is string {
  return typeof value === "string" && USERNAME.test(value);
}

export function validateUsername(value: unknown): string {
  if (value === undefined) throw validationError("username", "is required");
  if (!isValidUsername(value)) {
    throw validationError("username", "must be 3 to 32 characters of a-z, 0-9, _ and -");
  }
  return value;
}

export function validatePassword(value: unknown): string {
  if (value === undefined) throw validationError("password", "is required");
  if (typeof value !== "string") throw validationError("password", "must be a string");
  const length = Array.from(value).length; // characters, not UTF-16 units
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    throw validationError("password", `must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`);
  }
  return value;
}

export function validateFilename(value: unknown): string {
  if (value === undefined) throw validationError("filename", "is required");
  if (typeof value !== "string") throw validationError("filename", "must be a string");
  const length = Array.from(value).length;
  if (length < 1 || length > 255) throw validationError("filename", "must be 1 to 255 characters");
  if (value.includes("/") || value.includes("\\")) {
    throw validationError("filename", "must not contain / or \\");
  }
  if (CONTROL_CHARACTERS.test(value)) {
    throw validationError("filename", "must not contain control characters (NUL, newline, ...)");
  }
  if (BIDI_CONTROLS.test(value)) {
    throw validationError(
      "filename",
      "must not contain Unicode bidirectional controls (U+202A to U+202E, U+2066 to U+2069)",
    );
  }
  if (value === "." || value === "..") throw validationError("filename", "must not be . or ..");
  return value;
}

/** The content must be a string; its size limit is checked by the caller (413, not 400). */
export function validateContent(value: unknown): string {
  if (value === undefined) throw validationError("content", "is required");
  if (typeof value !== "string") throw validationError("content", "must be a string");
  return value;
}

/** An absent key is fine (the upload gets a random id); a present one must be sane. */
export function validateIdempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(value)) {
    throw validationError("Idempotency-Key", "must be 1 to 128 characters of A-Z, a-z, 0-9, _ . : and -");
  }
  return value;
}
