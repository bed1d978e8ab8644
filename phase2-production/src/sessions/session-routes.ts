// Login, logout, the session view and the session check of the three session designs
// (memory-session, redis-session, cached-session). express-session does the bookkeeping
// that phase 1 wrote by hand: the id (a signed cookie `sid` instead of X-Session-ID), the
// store, expiry (the cookie's maxAge and the store's TTL instead of a sweep). Mapped line by
// line in docs/transition-to-phase2.md.
//
// Every authenticated request changes the session (request_count, last_activity), so every
// one is a write, and each is saved explicitly before the answer: a store error in
// express-session's automatic save comes after the headers, and the client would see a 200
// for a session that was never stored.

import { Request, RequestHandler, Response, Router } from "express";
import { ApiError, StoreUnavailableError } from "../../../phase1-mockup/src/domain/errors";
import { UserService } from "../../../phase1-mockup/src/domain/users";
import { SessionData as LabSession } from "../../../phase1-mockup/src/sessions/session-store";

declare module "express-session" {
  // The fields of the session view (docs/api-reference.md, "GET /api/session"), kept in every
  // store (declaration merging needs an interface, even an empty one).
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface SessionData extends LabSession {}
}

export const SESSION_COOKIE = "sid";
const HAS_SESSION_COOKIE = new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=`);

/**
 * express-session's callback methods as promises (`await req.session.save()` would not wait).
 * A failure is the session store's: a 503 store_unavailable, never a 500.
 */
function call(what: string, method: (callback: (error?: unknown) => void) => unknown): Promise<void> {
  return new Promise((resolve, reject) =>
    method((error) =>
      error
        ? reject(
            new StoreUnavailableError(
              `session store: could not ${what}: ${(error as Error)?.message ?? String(error)}`,
              { cause: error },
            ),
          )
        : resolve(),
    ),
  );
}

export function saveSession(req: Request): Promise<void> {
  return call("save the session", (callback) => req.session.save(callback));
}

export interface SessionRoutesOptions {
  users: UserService;
  ttlSeconds: number;
  onSessionCreated: () => void;
}

/** Validation: a signed cookie naming a session that the store still has, or a 401. */
export function refuseWithoutSession(req: Request): void {
  if (req.session?.username) return;
  // express-session ignores a cookie it cannot verify or whose session the store lacks,
  // and hands out an empty session: so "no user" with a cookie sent means an unknown session.
  if (HAS_SESSION_COOKIE.test(req.headers.cookie ?? "")) {
    throw new ApiError(
      401,
      "session_not_found",
      "this session is unknown here (logged out, expired, or never stored); log in again",
    );
  }
  throw new ApiError(
    401,
    "missing_session",
    "log in with POST /api/login; the session cookie sid must come with every request",
  );
}

/** Validation, then this request's activity, in the session object that the save will write whole. */
export const requireSession: RequestHandler = (req, res, next) => {
  refuseWithoutSession(req);
  req.session.request_count = (req.session.request_count ?? 0) + 1;
  req.session.last_activity = new Date().toISOString();
  // rolling: true renews the cookie only when express-session saves at the very end; our save
  // comes earlier, so renew it here, or the stored expiry (and the Redis TTL) would stay at
  // login time + TTL and an active session would die mid-use.
  req.session.touch();
  res.locals.username = req.session.username;
  res.locals.userId = req.session.user_id ?? req.session.username; // a session from before ids existed
  next();
};

/** Files routes call this before answering: the explicit save that turns a store error into a 503. */
export function saveBeforeAnswer(req: Request, _res: Response): Promise<void> {
  return saveSession(req);
}

/** A new session under a new id, holding `fields`, saved to the store. */
export async function startSession(req: Request, fields: Partial<LabSession>): Promise<void> {
  // A new session id at login, so an id planted before login is worthless after it (no fixation).
  await call("start a session", (callback) => req.session.regenerate(callback));
  Object.assign(req.session, fields);
  await saveSession(req);
}

/** Deletes the session from the store and clears the cookie. */
export async function endSession(req: Request, res: Response): Promise<void> {
  const { path, httpOnly, sameSite, secure } = req.session.cookie; // the cookie's own flags, for the clearing one too
  await call("end the session", (callback) => req.session.destroy(callback));
  res.clearCookie(SESSION_COOKIE, { path, httpOnly, sameSite, secure: Boolean(secure) });
}

export function sessionRoutes({ users, ttlSeconds, onSessionCreated }: SessionRoutesOptions): Router {
  const router = Router();

  router.post("/api/login", async (req, res) => {
    const { username, userId } = await users.login(req.body);
    const now = new Date().toISOString();
    await startSession(req, {
      username,
      user_id: userId,
      created_at: now,
      last_activity: now,
      request_count: 0,
      files_uploaded: [],
    });
    onSessionCreated();
    res.json({ username, expires_in: ttlSeconds });
  });

  router.post("/api/logout", requireSession, async (req, res) => {
    await endSession(req, res);
    res.json({ message: "logged out" });
  });

  router.get("/api/session", requireSession, async (req, res) => {
    await saveSession(req);
    const { username, created_at, last_activity, request_count, files_uploaded } = req.session;
    res.json({ username, created_at, last_activity, request_count, files_uploaded });
  });

  return router;
}

/** After an upload (a replay too), the session lists the file: a crash must not lose it from the view. */
export function rememberUpload(req: Request, _res: Response, fileId: string): void {
  const uploads = (req.session.files_uploaded ??= []);
  if (!uploads.includes(fileId)) uploads.push(fileId);
}
