// Where each session design keeps its sessions. This is the file phase 2 is about: the
// `memory-session` and `redis-session` designs run exactly the same application, and the
// only difference between them is the one `store` line below (docs/transition-to-phase2.md,
// "The one-line store change").

import { RedisStore } from "connect-redis";
import session from "express-session";
import type { RedisClient } from "../operations/redis-client";
import { SessionDesign } from "../operations/config";
import type { ConfirmedWrite } from "../operations/redis-client";
import { CachedRedisStore } from "./cached-redis-store";

export function createSessionStore(design: SessionDesign, client: RedisClient, keyPrefix: string): session.Store {
  switch (design) {
    case "memory-session":
      // express-session's default: a Map in this process. Dies with the process, unknown to
      // every other instance (phase 1's lesson, with a library's name on it).
      return new session.MemoryStore();
    case "redis-session":
    case "atomic-session": // the login record only: what requests change lives beside it (atomic-session-routes.ts)
      // THE line of phase 2: the same sessions, kept in Redis, where every instance finds them.
      return new RedisStore({ client, prefix: keyPrefix + "sess:" });
    case "cached-session":
      // A hot copy in this process, written through to Redis: fast, and stale behind a balancer.
      return new CachedRedisStore(client, keyPrefix + "sess:");
  }
}

/**
 * Every save and every destroy of the store confirmed on replicas (REDIS_WAIT_REPLICAS) before
 * express-session hears that it worked: the explicit save before an answer then fails with a
 * 503 instead of acknowledging a session that only the primary has.
 */
export function confirmingWrites<S extends session.Store>(store: S, confirmed: ConfirmedWrite): S {
  const set = store.set.bind(store);
  const destroy = store.destroy.bind(store);
  const promised = (call: (done: (error?: unknown) => void) => void) => () =>
    new Promise<void>((resolve, reject) => call((error) => (error ? reject(error) : resolve())));
  store.set = (sid, data, callback) =>
    void confirmed(promised((done) => set(sid, data, done))).then(
      () => callback?.(),
      (error: unknown) => callback?.(error),
    );
  store.destroy = (sid, callback) =>
    void confirmed(promised((done) => destroy(sid, done))).then(
      () => callback?.(),
      (error: unknown) => callback?.(error),
    );
  return store;
}

/**
 * Hides a store's `touch` from express-session, which otherwise calls it after every answer
 * that did not save the session. Here every authenticated request has already saved its
 * session, with the renewed expiry, before answering (session-routes.ts), so that touch only
 * wrote the same expiry again: one more Redis command per request (an EXPIRE), and
 * express-session holds the answer's last byte back until the store replies, so every answer
 * left in two writes. A request that changed nothing (an unknown route with a valid cookie)
 * now renews nothing either: the idle rule counts authenticated requests only.
 */
export function withoutTouch<S extends session.Store>(store: S): S {
  Object.defineProperty(store, "touch", { value: undefined });
  return store;
}
