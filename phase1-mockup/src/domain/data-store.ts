// The data-store interface: where users and files live, whatever the design. Phase 1 keeps
// them on disk (file-data-store.ts); phase 2 keeps them in Redis behind this same shape.
// Sessions are NOT here: where session state lives is the lab's question, and it gets its
// own layer (phase1-mockup/src/sessions/ and, in phase 2, express-session's stores).
//
// Every method publishes or reads one whole record in one step: no read-modify-write of a
// shared index, so two instances can never lose each other's writes in this layer
// (docs/concepts.md, "What both servers do the same way").

export interface UserRecord {
  /**
   * Immutable and random, made at registration: sessions, tokens and files name the user by
   * it, never by the name, so a session from before a store wipe can never reach the files of
   * someone who registers the same name later (docs/api-reference.md, "What the servers defend
   * against"). Records made before ids existed have none: their name serves as their id.
   */
  user_id?: string;
  username: string;
  password_hash: string; // scrypt$<cost>$<salt>$<hash>, see passwords.ts
  created_at: string; // ISO 8601
}

export interface FileRecord {
  file_id: string;
  owner: string; // the owner's user_id
  filename: string;
  content: string;
  size: number; // UTF-8 bytes of content
  created_at: string;
}

export type FileSummary = Pick<FileRecord, "file_id" | "filename" | "size" | "created_at">;

/** What one user may hold (MAX_FILES_PER_USER, MAX_BYTES_PER_USER). */
export interface Quota {
  maxFiles: number;
  maxBytes: number;
}

/** The defaults of MAX_FILES_PER_USER and MAX_BYTES_PER_USER. */
export const DEFAULT_QUOTA: Quota = { maxFiles: 1000, maxBytes: 64 * 1048576 };

/** What putFileIfAbsent answers: the record now stored, or the quota it would have broken. */
export type PutResult = { created: boolean; file: FileRecord } | { quotaExceeded: { files: number; bytes: number } };

export interface DataStore {
  /** Stores the user only if the name is free; false when it is taken. */
  createUser(user: UserRecord): Promise<boolean>;
  /** The user, or null when there is none by that name. */
  getUser(username: string): Promise<UserRecord | null>;
  /** Replaces an existing user's record whole (a new password hash, same id); false when there is none. */
  replaceUser(user: UserRecord): Promise<boolean>;
  /**
   * Publishes the file record only if no record with its owner and id exists, in one step,
   * and only if the owner stays within `quota`. Answers the record now stored (the first one,
   * on a replay) and whether this call made it. The content is stored apart from the metadata.
   */
  putFileIfAbsent(file: FileRecord, quota: Quota): Promise<PutResult>;
  /** The owner's files, oldest first: metadata only, never a file's content. */
  listFiles(owner: string): Promise<FileSummary[]>;
  /** The owner's file, or null: another user's file is as absent as a missing one. */
  getFile(owner: string, fileId: string): Promise<FileRecord | null>;
  /** True when a file was deleted, false when there was none. */
  deleteFile(owner: string, fileId: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Oldest first, ties broken by id, so every store lists in the same order. */
export function compareFiles(a: FileSummary, b: FileSummary): number {
  return a.created_at.localeCompare(b.created_at) || a.file_id.localeCompare(b.file_id);
}
