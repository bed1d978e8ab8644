// The lab's error vocabulary: every error a client can meet is a JSON body `{error, message}`
// with one of these codes, each listed with when it happens in docs/api-reference.md
// ("Errors"). Phase 2 answers with the same codes, so a client written against phase 1
// understands phase 2's refusals too.

export type ErrorCode =
  | "invalid_json"
  | "validation_error"
  | "missing_credentials"
  | "invalid_credentials"
  | "missing_session"
  | "session_not_found"
  | "session_expired"
  | "invalid_token"
  | "token_expired"
  | "token_revoked"
  | "not_found"
  | "user_exists"
  | "payload_too_large"
  | "quota_exceeded"
  | "unsupported_media_type"
  | "too_many_requests"
  | "store_unavailable"
  | "database_unavailable"
  | "insufficient_storage"
  | "draining"
  | "misdirected_request"
  | "internal_error";

/** An error that the HTTP layer answers as `status` with `{error: code, message}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** A 400 whose message names the field that is wrong. */
export function validationError(field: string, problem: string): ApiError {
  return new ApiError(400, "validation_error", `${field} ${problem}`);
}

export function notFound(what: string): ApiError {
  return new ApiError(404, "not_found", `${what} not found`);
}

/**
 * The data store (a disk, or Redis in phase 2) could not answer. Never turned into a 401 or a
 * 404: those would tell the client something false about its credentials or its files.
 */
export class StoreUnavailableError extends Error {
  /** The code a client reads: which store failed (phase 2's PostgreSQL says database_unavailable). */
  readonly code: "store_unavailable" | "database_unavailable" = "store_unavailable";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

/**
 * Phase 1's disk is full (ENOSPC, or the disk quota of the server's account: EDQUOT). Answered
 * 507 without Retry-After: unlike an outage, waiting frees nothing; deleting files does.
 */
export class InsufficientStorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InsufficientStorageError";
  }
}

/** Seconds a client is asked to wait (`Retry-After`) when the store is unavailable. */
export const STORE_RETRY_AFTER_SECONDS = 1;
