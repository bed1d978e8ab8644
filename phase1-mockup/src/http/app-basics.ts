// What every server of the lab does the same way, whatever its design: names itself on every
// response (X-Served-By, so a student can see which instance answered behind a balancer),
// carries a request id, answers /health and /ready, parses JSON bodies strictly, and turns
// every error into the JSON shape of docs/api-reference.md ("Errors", "Headers"). The designs
// differ only in the routes they add between createBaseApp() and finishApp().

import { randomUUID } from "node:crypto";
import express, { ErrorRequestHandler, Express, RequestHandler } from "express";
import { ApiError, STORE_RETRY_AFTER_SECONDS, StoreUnavailableError } from "../domain/errors";

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
  maxFileBytes: number;
  /** Phase 2: why the instance cannot serve right now (Redis down), or undefined when it can. */
  notReadyReason?: () => Promise<string | undefined>;
  /** Phase 2: logging and metrics, run on every request right after the request id is set. */
  middleware?: RequestHandler[];
}

/** Where server-side failures are logged (phase 2: the JSON logger); default: stderr. */
export type ErrorLogger = (message: string, error: unknown) => void;

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createBaseApp(options: BaseAppOptions): Express {
  const { design, serverId, lifecycle } = options;
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false); // API answers change with every request: no caching validators

  app.use((req, res, next) => {
    const requestId = req.get("X-Request-ID");
    res.set("X-Served-By", serverId);
    res.set("X-Request-ID", requestId && SANE_REQUEST_ID.test(requestId) ? requestId : randomUUID());
    // While draining, every answer closes its connection, so keep-alive clients reconnect to
    // the next instance instead of holding this one open (docs/transition-to-phase2.md,
    // "Graceful shutdown").
    if (lifecycle.draining) res.set("Connection", "close");
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
      res.status(503).set("Retry-After", String(STORE_RETRY_AFTER_SECONDS)).json({ error: "store_unavailable", message: reason });
    } else {
      res.json({ status: "ready", server_id: serverId });
    }
  });

  app.use(jsonBody(options.maxFileBytes));
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
  console.error(message, error instanceof Error && !(error instanceof StoreUnavailableError) ? error : "");
}

/**
 * Parses `application/json` bodies and refuses every other body with 415. The parser's limit
 * leaves room for the worst JSON escaping (6 bytes for one, as \u0000), so a file within
 * MAX_FILE_BYTES always parses, and an oversized one gets the upload route's clean 413.
 */
function jsonBody(maxFileBytes: number): RequestHandler {
  const parse = express.json({ limit: maxFileBytes * 6 + 64 * 1024, strict: true });
  return (req, res, next) => {
    const length = Number(req.headers["content-length"] ?? 0);
    const hasBody = req.headers["transfer-encoding"] !== undefined || length > 0;
    if (!hasBody) return next();
    if (!req.is("application/json")) {
      return next(new ApiError(415, "unsupported_media_type", "send the body as Content-Type: application/json"));
    }
    parse(req, res, next);
  };
}

/** Errors thrown by express.json() carry a `type`; these are the ones a client can cause. */
function fromBodyParser(error: { type?: unknown }): ApiError | undefined {
  switch (error.type) {
    case "entity.parse.failed":
      return new ApiError(400, "invalid_json", "the body is not valid JSON");
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
    return new ApiError(503, "store_unavailable", "the data store is unavailable; try again shortly", {
      "Retry-After": String(STORE_RETRY_AFTER_SECONDS),
    });
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
