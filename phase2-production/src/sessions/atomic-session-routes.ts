// The atomic-session design: redis-session with the race of the `concurrent` scenario fixed.
// Read it as a diff of session-routes.ts. express-session still issues, signs and checks the
// cookie, and connect-redis still keeps the session record, written once at login (username,
// created_at). What every request changes lives beside it and is never loaded, changed and
// saved whole (docs/transition-to-phase2.md, "The race that no store fixes"):
//
//   <prefix>sessfields:{<prefix>sess:<sid>}   a hash: request_count (HINCRBY), last_activity (HSET)
//   <prefix>sessfiles:{<prefix>sess:<sid>}    a set of the file ids uploaded in this session (SADD)
//
// The hash tag in braces is the record's own key, so on a Redis Cluster the three keys share
// its slot and one MULTI may name them all (CROSSSLOT otherwise).
// A request's updates and the renewal of the three keys' expiry go in one MULTI, and
// express-session saves nothing after login (resave: false; the record does not change), so no
// request can overwrite another's update.

import { Request, RequestHandler, Response, Router } from "express";
import type { RedisClient } from "../operations/redis-client";
import { FileService } from "../../../phase1-mockup/src/domain/files";
import { UserService } from "../../../phase1-mockup/src/domain/users";
import { ConfirmedWrite, guardRedis } from "../operations/redis-client";
import { endSession, refuseWithoutSession, startSession } from "./session-routes";

export interface AtomicSessionOptions {
  client: RedisClient;
  /** Every write goes through it: REDIS_WAIT_REPLICAS's WAIT. */
  confirmed: ConfirmedWrite;
  keyPrefix: string;
  ttlSeconds: number;
  users: UserService;
  files: FileService;
  onSessionCreated: () => void;
}

export function atomicSession({
  client,
  confirmed,
  keyPrefix,
  ttlSeconds,
  users,
  files,
  onSessionCreated,
}: AtomicSessionOptions) {
  const recordKey = (sid: string) => `${keyPrefix}sess:${sid}`; // connect-redis's key, as store-per-design.ts names it
  const fieldsKey = (sid: string) => `${keyPrefix}sessfields:{${recordKey(sid)}}`;
  const filesKey = (sid: string) => `${keyPrefix}sessfiles:{${recordKey(sid)}}`;

  /** Validation, as redis-session's: but the request changes nothing in req.session. */
  const requireSession: RequestHandler = (req, res, next) => {
    refuseWithoutSession(req);
    req.session.touch(); // the cookie's expiry only: not part of the stored record, so nothing is saved
    res.locals.username = req.session.username;
    res.locals.userId = req.session.user_id ?? req.session.username;
    res.locals.uploaded = [];
    next();
  };

  /** After an upload (a replay too), the file joins this request's MULTI. */
  function rememberUpload(_req: Request, res: Response, fileId: string): void {
    (res.locals.uploaded as string[]).push(fileId);
  }

  /**
   * Before every answer: this request's changes, each one atomic command, and the renewed
   * expiry of all three keys, in one MULTI. Parallel requests each add their own: none
   * overwrites another's.
   */
  function recordRequest(req: Request, res: Response): Promise<void> {
    const sid = req.sessionID;
    const uploaded: string[] = res.locals.uploaded ?? [];
    return guardRedis("record the request in the session", async () => {
      const multi = client
        .multi()
        .hincrby(fieldsKey(sid), "request_count", 1)
        .hset(fieldsKey(sid), "last_activity", new Date().toISOString());
      if (uploaded.length) multi.sadd(filesKey(sid), ...uploaded);
      for (const key of [recordKey(sid), fieldsKey(sid), filesKey(sid)]) multi.expire(key, ttlSeconds);
      const results = await confirmed(() => multi.exec());
      const failed = results?.find(([error]) => error);
      if (!results || failed) throw failed?.[0] ?? new Error("the transaction was discarded");
    });
  }

  const router = Router();

  router.post("/api/login", async (req, res) => {
    const { username, userId } = await users.login(req.body);
    // The record connect-redis keeps: written once, never changed by a request.
    await startSession(req, { username, user_id: userId, created_at: new Date().toISOString() });
    onSessionCreated();
    res.json({ username, expires_in: ttlSeconds });
  });

  router.post("/api/logout", requireSession, async (req, res) => {
    const sid = req.sessionID;
    await guardRedis("end the session", () => confirmed(() => client.del(fieldsKey(sid), filesKey(sid))));
    await endSession(req, res);
    res.json({ message: "logged out" });
  });

  router.get("/api/session", requireSession, async (req, res) => {
    await recordRequest(req, res);
    const sid = req.sessionID;
    const [fields, ids, owned] = await Promise.all([
      guardRedis("read the session", () => client.hgetall(fieldsKey(sid))),
      guardRedis("read the session", () => client.smembers(filesKey(sid))),
      files.list(res.locals.userId as string),
    ]);
    // A set has no order: list the uploads as they were made, by the files' created_at.
    const createdAt = new Map(owned.map((file) => [file.file_id, file.created_at]));
    const filesUploaded = ids.sort(
      (a, b) => (createdAt.get(a) ?? "").localeCompare(createdAt.get(b) ?? "") || a.localeCompare(b),
    );
    const { username, created_at } = req.session;
    res.json({
      username,
      created_at,
      last_activity: fields.last_activity ?? created_at,
      request_count: Number(fields.request_count ?? 0),
      files_uploaded: filesUploaded,
    });
  });

  return { router, requireSession, rememberUpload, recordRequest };
}
