// Phase 1's session store: a JavaScript Map inside the server process. This Map dies with
// the process: that is the whole point of phase 1 (docs/concepts.md, "stateful trade-offs").
// Expiry is checked lazily on every access and by a sweep on a timer that never keeps the
// process alive.

import { randomBytes } from "node:crypto";
import type { Identity } from "../domain/users";
import { SessionData, SessionLookup, SessionStore } from "./session-store";

/** A session id is 256 random bits, base64url: 43 characters. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

interface Entry {
  data: SessionData;
  lastActivityMs: number;
}

export class MapSessionStore implements SessionStore {
  private readonly sessions = new Map<string, Entry>();
  /**
   * Ids of expired sessions, with when they expired, kept for one more TTL so that a user who
   * comes back late hears "expired" rather than "never heard of you". Only ids: a few bytes each.
   */
  private readonly expired = new Map<string, number>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    readonly ttlSeconds: number,
    private readonly now: () => number = Date.now, // tests pass a clock they can move
  ) {}

  create({ username, userId }: Identity): { sessionId: string; data: SessionData } {
    const sessionId = randomBytes(32).toString("base64url"); // unguessable, from a CSPRNG
    const at = this.now();
    const data: SessionData = {
      username,
      user_id: userId,
      created_at: new Date(at).toISOString(),
      last_activity: new Date(at).toISOString(),
      request_count: 0,
      files_uploaded: [],
    };
    this.sessions.set(sessionId, { data, lastActivityMs: at });
    return { sessionId, data };
  }

  touch(sessionId: string): SessionLookup {
    if (!SESSION_ID.test(sessionId)) return { status: "not_found" }; // no Map lookup for junk
    const entry = this.sessions.get(sessionId);
    if (!entry) return this.expired.has(sessionId) ? { status: "expired" } : { status: "not_found" };
    const at = this.now();
    if (this.isExpired(entry, at)) {
      this.retire(sessionId, entry);
      return { status: "expired" };
    }
    // Every authenticated request is activity: the idle timeout starts again from now.
    entry.lastActivityMs = at;
    entry.data.last_activity = new Date(at).toISOString();
    entry.data.request_count += 1;
    // The route handlers get this very object, so parallel requests all update one session:
    // one thread, one object, nothing to overwrite (compare the `concurrent` scenario in phase 2).
    return { status: "active", data: entry.data };
  }

  destroy(sessionId: string): boolean {
    return this.sessions.delete(sessionId); // ended on purpose: not "expired", just gone
  }

  sweep(): number {
    const at = this.now();
    let removed = 0;
    for (const [sessionId, entry] of this.sessions) {
      if (this.isExpired(entry, at)) {
        this.retire(sessionId, entry);
        removed += 1;
      }
    }
    // After one more TTL even the memory of an expired id goes: then it is simply unknown.
    for (const [sessionId, expiredAt] of this.expired) {
      if (at - expiredAt >= this.ttlSeconds * 1000) this.expired.delete(sessionId);
    }
    return removed;
  }

  /** Moves an expired session out of the Map, keeping only its id for a while. */
  private retire(sessionId: string, entry: Entry): void {
    this.sessions.delete(sessionId);
    this.expired.set(sessionId, entry.lastActivityMs + this.ttlSeconds * 1000);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Sweeps every `intervalMs` (default: the TTL, at most a minute) until stopSweeper(). */
  startSweeper(intervalMs = Math.min(this.ttlSeconds * 1000, 60_000)): void {
    this.stopSweeper();
    this.sweeper = setInterval(() => this.sweep(), intervalMs);
    this.sweeper.unref();
  }

  stopSweeper(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private isExpired(entry: Entry, at: number): boolean {
    return at - entry.lastActivityMs >= this.ttlSeconds * 1000;
  }
}
