// Starting, checking and ending the stateful design's sessions, written by hand: the routes
// beside the store (session-store.ts, map-session-store.ts) that phase 2 gets from
// express-session. Read it side by side with phase2-production/src/sessions/session-routes.ts:
// the same three routes, the same check and the same upload hook, with the session id in a
// header instead of a signed cookie (docs/transition-to-phase2.md, "The map at a glance").

import { Request, RequestHandler, Response, Router } from "express";
import { ApiError } from "../domain/errors";
import { UserService } from "../domain/users";
import { SessionData, SessionStore } from "./session-store";

/** Validation: the id must name a live session in this process's Map. */
export function requireSession(sessions: SessionStore): RequestHandler {
  return (req, res, next) => {
    // No password check here: the session id stands for the password the user typed once.
    const sessionId = req.get("X-Session-ID");
    if (!sessionId) {
      throw new ApiError(
        401,
        "missing_session",
        "start a session with POST /api/session/start and send its id in X-Session-ID",
      );
    }
    const lookup = sessions.touch(sessionId);
    if (lookup.status === "expired") {
      throw new ApiError(
        401,
        "session_expired",
        `the session was idle for more than ${sessions.ttlSeconds} s; start a new one`,
      );
    }
    if (lookup.status === "not_found") {
      throw new ApiError(
        401,
        "session_not_found",
        "this server knows no such session (it ended, or the server restarted); start a new one",
      );
    }
    res.locals.username = lookup.data.username;
    res.locals.userId = lookup.data.user_id;
    res.locals.session = lookup.data;
    res.locals.sessionId = sessionId;
    next();
  };
}

export interface SessionRoutesOptions {
  users: UserService;
  sessions: SessionStore;
}

export function sessionRoutes({ users, sessions }: SessionRoutesOptions): Router {
  const router = Router();
  const check = requireSession(sessions);

  // Creation: the only request that carries the password.
  router.post("/api/session/start", async (req, res) => {
    const { sessionId } = sessions.create(await users.login(req.body));
    res.status(201).json({ session_id: sessionId, expires_in: sessions.ttlSeconds });
  });

  router.get("/api/session", check, (_req, res) => {
    const { user_id: _id, ...session }: SessionData = res.locals.session;
    res.json({ ...session, files_uploaded: [...session.files_uploaded] });
  });

  // End: the server forgets the session at once; the id is worthless from now on.
  router.post("/api/session/end", check, (_req, res) => {
    sessions.destroy(res.locals.sessionId);
    res.json({ message: "session ended" });
  });

  return router;
}

/** After an upload (a replay too), the session lists the file. The Map holds this very object: no save. */
export function rememberUpload(_req: Request, res: Response, fileId: string): void {
  const session: SessionData = res.locals.session;
  if (!session.files_uploaded.includes(fileId)) session.files_uploaded.push(fileId);
}
