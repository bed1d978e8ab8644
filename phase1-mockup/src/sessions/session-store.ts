// The phase-1 session layer's interface: what a server needs from "somewhere that remembers
// who you are". It is written by hand on purpose: the session layer is a design
// responsibility (creation, validation, idle timeout, clean-up, end), not something a
// library hands you (docs/concepts.md, "The session layer is a design responsibility, not a library").

import type { Identity } from "../domain/users";

export interface SessionData {
  username: string;
  /** The user's immutable id, under which its files are kept; not part of the session view. */
  user_id: string;
  created_at: string; // ISO 8601
  last_activity: string;
  request_count: number; // authenticated requests made with this session
  files_uploaded: string[]; // file ids uploaded in this session
}

export type SessionLookup =
  | { status: "active"; data: SessionData }
  | { status: "expired" } // known, but idle for longer than the TTL (remembered for one more TTL)
  | { status: "not_found" }; // never existed, ended, or expired so long ago that it is forgotten

export interface SessionStore {
  /** Starts a session for a user who has just proved who they are; returns its new id. */
  create(identity: Identity): { sessionId: string; data: SessionData };
  /** Finds a session and, when it is active, records this request as activity on it. */
  touch(sessionId: string): SessionLookup;
  /** Ends a session; false when there was none to end. */
  destroy(sessionId: string): boolean;
  /** Forgets every expired session; returns how many it removed. */
  sweep(): number;
  /** Live entries, expired ones not yet swept included. */
  readonly size: number;
  /** Idle seconds before a session expires. */
  readonly ttlSeconds: number;
}
