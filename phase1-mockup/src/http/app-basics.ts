// What every server of the lab does the same way, whatever its design: names itself on every
// response (X-Served-By, so a student can see which instance answered behind a balancer),
// carries a request id, answers /health and /ready, parses JSON bodies strictly, and turns
// every error into the JSON shape of docs/api-reference.md ("Errors", "Headers"). The designs
// differ only in the routes they add between createBaseApp() and finishApp().

import { randomUUID } from "node:crypto";
import express, { ErrorRequestHandler, Express, RequestHandler } from "express";
import { ApiError, InsufficientStorageError, STORE_RETRY_AFTER_SECONDS, StoreUnavailableError } from "../domain/errors";
import { AllowedHost, DEFAULT_ALLOWED_HOSTS, isAllowedHost, parseAllowedHosts } from "./allowed-hosts";

/** Shared with serve.ts: set when the process starts draining on SIGTERM. */
export interface Lifecycle {
  draining: boolean;
  startedAt: number;
}

export function newLifecycle(): Lifecycle {
  return { draining: false, startedAt: Date.now() };
}

export interface BaseAppOptions {
  design: string;
  serverId: string;
  lifecycle: Lifecycle;
  /** Phase 2: why the instance cannot serve right now (Redis down), or undefined when it can. */
  /** Why it cannot serve: a sentence (answered as store_unavailable), or the code and the sentence. */
  notReadyReason?: () => Promise<
    string | { code: "store_unavailable" | "database_unavailable"; message: string } | undefined
  >;
  /** Phase 2: logging and metrics, run on every request right after the request id is set. */
  middleware?: RequestHandler[];
  /** ALLOWED_HOSTS: the Host names answered; loopback's names on any port when absent. */
  allowedHosts?: AllowedHost[] | "*";
  /** TRUST_PROXY_HOPS: the proxies in front whose X-Forwarded-* is believed; 0 when absent. */
  trustProxyHops?: number;
}

/** Where server-side failures are logged (phase 2: the JSON logger); default: stderr. */
export type ErrorLogger = (message: string, error: unknown) => void;

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createBaseApp(options: BaseAppOptions): Express {
  const { design, serverId, lifecycle } = options;
  const allowedHosts = options.allowedHosts ?? parseAllowedHosts(DEFAULT_ALLOWED_HOSTS);
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false); // API answers change with every request: no caching validators
  // req.ip (the rate limit's client address) and req.secure read X-Forwarded-* exactly this
  // many hops deep: with 0 the connection's own address, with 1 what the one balancer in front
  // wrote. Trusting more hops than there are proxies lets a client write its own address.
  app.set("trust proxy", options.trustProxyHops ?? 0);

  app.use((req, res, next) => {
    const requestId = req.get("X-Request-ID");
    res.set("X-Served-By", serverId);
    // No browser guesses a file's type from its content, and no cache keeps an answer that
    // was meant for one user (a file, a session view) for the next.
    res.set("X-Content-Type-Options", "nosniff");
    if (req.path.startsWith("/api/")) res.set("Cache-Control", "no-store");
    res.set("X-Request-ID", requestId && SANE_REQUEST_ID.test(requestId) ? requestId : randomUUID());
    // While draining, every answer closes its connection, so keep-alive clients reconnect to
    // the next instance instead of holding this one open (docs/transition-to-phase2.md,
    // "Graceful shutdown").
    if (lifecycle.draining) res.set("Connection", "close");
    // HTTP/1.1 requires Host; Node's own refusal would be a bare 400 (serve.ts turns it off).
    if (!req.headers.host && req.httpVersion !== "1.0")
      return next(new ApiError(400, "validation_error", "the Host header is required"));
    if (req.headers.host !== undefined && !isAllowedHost(req.headers.host, allowedHosts))
      return next(
        new ApiError(421, "misdirected_request", `this server does not answer to the host ${req.headers.host}`),
      );
    next();
  });
  for (const handler of options.middleware ?? []) app.use(handler);

  app.get("/health", (_req, res) => {
    res.json({
      status: "ok",
      design,
      server_id: serverId,
      pid: process.pid,
      uptime_s: Math.round((Date.now() - lifecycle.startedAt) / 1000),
    });
  });

  app.get("/ready", async (_req, res) => {
    if (lifecycle.draining) {
      res.status(503).json({ error: "draining", message: "this instance is shutting down" });
      return;
    }
    const reason = await options.notReadyReason?.();
    if (reason) {
      const { code, message } = typeof reason === "string" ? { code: "store_unavailable", message: reason } : reason;
      res.status(503).set("Retry-After", String(STORE_RETRY_AFTER_SECONDS)).json({ error: code, message });
    } else {
      res.json({ status: "ready", server_id: serverId });
    }
  });

  // Every body but an upload's is small and read before authentication; an upload's is read
  // only once the request has proved who it is (file-routes.ts), so that nobody unauthenticated
  // can make a server read megabytes.
  // (Express routes /api/upload/ and /API/UPLOAD there too: so does this test.)
  app.use((req, res, next) =>
    req.method === "POST" && req.path.replace(/\/+$/, "").toLowerCase() === "/api/upload"
      ? next()
      : smallBody(req, res, next),
  );
  // No CORS here: an OPTIONS request gets the JSON 404 of finishApp(), not Express's plain text.
  app.options(/.*/, (req, _res, next) => next(new ApiError(404, "not_found", `no route for OPTIONS ${req.path}`)));
  return app;
}

/** The last handlers: a JSON 404 for unknown routes, and the JSON error handler. */
export function finishApp(app: Express, logError: ErrorLogger = logToStderr): Express {
  // Also catches OPTIONS, which Express would otherwise answer in plain text.
  app.use((req, _res, next) => next(new ApiError(404, "not_found", `no route for ${req.method} ${req.path}`)));
  app.use(errorHandler(logError));
  return app;
}

function logToStderr(message: string, error: unknown): void {
  const expected = error instanceof StoreUnavailableError || error instanceof InsufficientStorageError;
  console.error(message, error instanceof Error && !expected ? error : "");
}

/** Routes other than an upload take at most this much JSON. */
export const SMALL_BODY_BYTES = 16 * 1024;
/** Deeper nesting than this is refused before it is parsed (a deep body costs the parser dearly). */
export const MAX_JSON_DEPTH = 32;

const smallBody = jsonBody(SMALL_BODY_BYTES);

/** The most an upload's body may weigh: room for any file within MAX_FILE_BYTES (see jsonBody). */
export function uploadBodyLimit(maxFileBytes: number): number {
  return maxFileBytes * 6 + 64 * 1024;
}

/** The upload route's parser: big enough for any file within MAX_FILE_BYTES (see jsonBody). */
export function uploadBody(maxFileBytes: number): RequestHandler {
  return jsonBody(uploadBodyLimit(maxFileBytes));
}

/** Counts the nesting of a JSON text, strings aside; throws past MAX_JSON_DEPTH. */
function refuseDeepNesting(_req: unknown, _res: unknown, buffer: Buffer): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buffer.length; i += 1) {
    const byte = buffer[i];
    if (inString) {
      if (byte === 0x5c)
        i += 1; // a backslash: skip the escaped character
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x7b || byte === 0x5b) {
      depth += 1;
      if (depth > MAX_JSON_DEPTH)
        throw Object.assign(new Error(`the JSON is nested deeper than ${MAX_JSON_DEPTH} levels`), {
          status: 400,
          type: "entity.verify.failed",
        });
    } else if (byte === 0x7d || byte === 0x5d) depth -= 1;
  }
}

/**
 * Parses `application/json` bodies of at most `limit` bytes, nested at most 32 levels, and
 * refuses every other body with 415. The upload's limit leaves room for the worst JSON
 * escaping (6 bytes for one, as \u0000), so a file within MAX_FILE_BYTES always parses, and an
 * oversized one gets the upload route's clean 413.
 */
function jsonBody(limit: number): RequestHandler {
  const parse = express.json({ limit, strict: true, verify: refuseDeepNesting });
  return (req, res, next) => {
    const length = Number(req.headers["content-length"] ?? 0);
    const hasBody = req.headers["transfer-encoding"] !== undefined || length > 0;
    if (!hasBody) return next();
    if (!req.is("application/json")) {
      return next(new ApiError(415, "unsupported_media_type", "send the body as Content-Type: application/json"));
    }
    // UTF-8 only: the nesting scan reads bytes, and in UTF-16 a quote's byte hides inside other characters.
    const charset = /;\s*charset="?([^";]+)/i.exec(req.headers["content-type"] ?? "")?.[1].toLowerCase();
    if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
      return next(new ApiError(415, "unsupported_media_type", "send the body as UTF-8 JSON"));
    }
    parse(req, res, next);
  };
}

/** Errors thrown by express.json() carry a `type`; these are the ones a client can cause. */
function fromBodyParser(error: { type?: unknown }): ApiError | undefined {
  switch (error.type) {
    case "entity.parse.failed":
      return new ApiError(400, "invalid_json", "the body is not valid JSON");
    case "entity.verify.failed":
      return new ApiError(
        400,
        "invalid_json",
        (error as { message?: string }).message ?? "the body is not acceptable JSON",
      );
    case "entity.too.large":
      return new ApiError(413, "payload_too_large", "the request body is too large");
    case "charset.unsupported":
    case "encoding.unsupported":
      return new ApiError(415, "unsupported_media_type", "send the body as UTF-8 JSON");
    case "request.aborted":
    case "request.size.invalid":
      return new ApiError(400, "invalid_json", "the body did not arrive whole");
    default:
      return undefined;
  }
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof StoreUnavailableError) {
    const retry = { "Retry-After": String(STORE_RETRY_AFTER_SECONDS) };
    // Which store: phase 2's PostgreSQL (users and files) or the other one (Redis, phase 1's disk).
    return error.code === "database_unavailable"
      ? new ApiError(503, "database_unavailable", "the database is unavailable; try again shortly", retry)
      : new ApiError(503, "store_unavailable", "the data store is unavailable; try again shortly", retry);
  }
  if (error instanceof InsufficientStorageError) {
    // No Retry-After: the disk frees nothing by itself, and the upload left nothing behind.
    return new ApiError(
      507,
      "insufficient_storage",
      "the server's disk is full, and nothing was stored: delete files you no longer need, or ask whoever runs the server for room",
    );
  }
  const fromParser = error && typeof error === "object" ? fromBodyParser(error) : undefined;
  if (fromParser) return fromParser;
  // Other client errors that Express or body-parser flag with a 4xx status: the client's fault.
  if (error instanceof URIError) return new ApiError(400, "validation_error", "path has a malformed percent-encoding");
  const status = (error as { status?: unknown })?.status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return new ApiError(400, "invalid_json", `the body could not be read (${(error as Error).message})`); // a bad gzip, say
  }
  return new ApiError(500, "internal_error", "something went wrong on the server");
}

function errorHandler(logError: ErrorLogger): ErrorRequestHandler {
  return (error, req, res, next) => {
    if (res.headersSent) return next(error); // too late for JSON: let Express close the connection
    const answer = toApiError(error);
    if (answer.status >= 500) {
      const reason = error instanceof Error ? error.message : String(error);
      logError(`[${res.get("X-Request-ID")}] ${req.method} ${req.path}: ${answer.code}: ${reason}`, error);
    }
    res.set(answer.headers).status(answer.status).json({ error: answer.code, message: answer.message });
  };
}
