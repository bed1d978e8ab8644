// The `cached-session` design's store, built wrong on purpose. It is the "keep instances in
// memory, back them up externally" mode: every change is written through to Redis, and reads
// come from a cache in this process when the session is there.
//
// Behind a round-robin balancer that cache goes stale: instance A keeps its old copy while
// instance B updates Redis, so A serves a session view without B's upload (a stale read),
// and A's next save writes its old copy back over B's change (a lost update). The sessions
// do survive a restart, since Redis has them. Explained in docs/transition-to-phase2.md
// ("The cached-session trap").

import session from "express-session";
import type { RedisClient } from "../operations/redis-client";

type Callback<T = unknown> = (error?: unknown, value?: T) => void;

export class CachedRedisStore extends session.Store {
  /** Serialized sessions, like MemoryStore keeps them: every request gets a fresh parse. */
  private readonly cache = new Map<string, string>();

  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
  ) {
    super();
    // Note what is missing: no `disconnect` event is ever emitted. express-session would then
    // let requests through with no session at all, turning a Redis outage into 401s.
  }

  private key(sid: string): string {
    return this.prefix + sid;
  }

  override get(sid: string, callback: Callback<session.SessionData | null>): void {
    const cached = this.cache.get(sid);
    if (cached !== undefined) {
      const data = JSON.parse(cached) as session.SessionData; // we wrote it ourselves: it parses
      if (!isExpired(data)) return callback(null, data); // the hit: no round trip, maybe stale
      this.cache.delete(sid);
    }
    this.client.get(this.key(sid)).then(
      (text) => {
        if (text === null) return callback(null, null);
        let data: session.SessionData;
        try {
          data = JSON.parse(text);
        } catch (error) {
          return callback(error); // a corrupt value in Redis: a store error, not a crash
        }
        this.cache.set(sid, text);
        callback(null, data);
      },
      (error) => callback(error),
    );
  }

  override set(sid: string, data: session.SessionData, callback?: Callback): void {
    const text = JSON.stringify(data);
    // Write-through: Redis first, then the cache, so the cache never holds what Redis refused.
    this.client.set(this.key(sid), text, "EX", ttlSeconds(data)).then(
      () => {
        this.cache.set(sid, text);
        callback?.();
      },
      (error) => {
        this.cache.delete(sid);
        callback?.(error);
      },
    );
  }

  // No touch(): every request that uses a session saves it (session-routes.ts), and the app
  // hides even the other stores' touch from express-session (withoutTouch in store-per-design.ts).

  override destroy(sid: string, callback?: Callback): void {
    this.cache.delete(sid);
    this.client.del(this.key(sid)).then(
      () => callback?.(),
      (error) => callback?.(error),
    );
  }

  /** Sessions in this process's cache (the benchmark's memory figures). */
  get cachedSessions(): number {
    return this.cache.size;
  }
}

/** Seconds until the cookie expires, as connect-redis derives its TTL; at least 1. */
function ttlSeconds(data: session.SessionData): number {
  const expires = data.cookie?.expires ? new Date(data.cookie.expires).getTime() : Date.now() + 86_400_000;
  return Math.max(1, Math.ceil((expires - Date.now()) / 1000));
}

function isExpired(data: session.SessionData): boolean {
  return Boolean(data.cookie?.expires) && new Date(data.cookie.expires as Date).getTime() <= Date.now();
}
