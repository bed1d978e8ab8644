// Phase 2's durable data in PostgreSQL: phase 1's DataStore interface over two tables, users
// and files (migrations/001_users-and-files.sql). What Redis needed Lua scripts and hash tags
// for, a relational database does with a transaction: an upload locks its user's row, counts
// the user's files, and inserts the new one, all or nothing, so two uploads at once can never
// both pass the quota; and the primary key (user, file id) makes a replay find the first upload.
//
// A database that is down or frozen must not hang a request: the pool gives up on a connection
// after DATABASE_TIMEOUT_MS and every statement has the same bound (statement_timeout on the
// server, query_timeout here for a server that cannot even say so), and either becomes a
// DatabaseUnavailableError, which the HTTP layer answers 503 with Retry-After.

import { ClientBase, Pool, PoolClient } from "pg";
import {
  compareFiles,
  DataStore,
  FileRecord,
  FileSummary,
  PutResult,
  Quota,
  UserRecord,
} from "../../../phase1-mockup/src/domain/data-store";
import { StoreUnavailableError } from "../../../phase1-mockup/src/domain/errors";

/**
 * How long a connection, or one statement, may take before the request answers 503: under the
 * clients' 1 s, so that a frozen database's 503 reaches them in time to be read and retried.
 */
export const DATABASE_TIMEOUT_MS = 750;

/** How long an upload waits for this user's earlier uploads in this process before a 503 (phase 1 waits as long for its reservation). */
export const TURN_WAIT_MS = 5000;

/** PostgreSQL could not answer: down, frozen, restarting, or out of connections. */
export class DatabaseUnavailableError extends StoreUnavailableError {
  override readonly code = "database_unavailable";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DatabaseUnavailableError";
  }
}

/**
 * Trouble with the server, not with the request: no SQLSTATE at all (a refused or broken
 * connection, a timeout of the driver's), or one of the classes a client cannot cause:
 * 08 connection, 53 insufficient resources, 57 operator intervention (shutting down, a
 * statement timeout), 58 system error. A constraint or a syntax error is a bug, and stays one.
 */
function isServerTrouble(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  const sqlState = typeof code === "string" && /^[0-9A-Z]{5}$/.test(code);
  return !sqlState || /^(08|53|57|58)/.test(code);
}

/** Runs a database call; a server that is not there becomes a DatabaseUnavailableError naming what failed. */
async function guardDatabase<T>(action: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DatabaseUnavailableError || !isServerTrouble(error)) throw error;
    throw new DatabaseUnavailableError(`PostgreSQL: could not ${action}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

interface UserRow {
  user_id: string;
  username: string;
  password_hash: string;
  created_at: Date;
}

interface FileRow {
  user_id: string;
  file_id: string;
  filename: string;
  size: number;
  content: Buffer;
  created_at: Date;
}

function userOf(row: UserRow): UserRecord {
  return {
    user_id: row.user_id,
    username: row.username,
    password_hash: row.password_hash,
    created_at: row.created_at.toISOString(),
  };
}

function fileOf(row: FileRow): FileRecord {
  return {
    file_id: row.file_id,
    owner: row.user_id,
    filename: row.filename,
    content: row.content.toString("utf8"),
    size: row.size,
    created_at: row.created_at.toISOString(),
  };
}

/** host:port/database of a pool made by createPool(), for messages (never its password). */
function where(pool: Pool): string {
  const url = new URL((pool.options as { connectionString?: string }).connectionString ?? "postgres://unknown/");
  return `${url.hostname}:${url.port || 5432}${url.pathname}`;
}

/** One file, content included, or null: from the pool, or inside an upload's transaction. */
async function findFile(db: Pick<ClientBase, "query">, owner: string, fileId: string): Promise<FileRecord | null> {
  const found = await db.query<FileRow>("SELECT * FROM files WHERE user_id = $1 AND file_id = $2", [owner, fileId]);
  return found.rows[0] ? fileOf(found.rows[0]) : null;
}

/** A pool for `url` that never waits on a missing or frozen server for longer than DATABASE_TIMEOUT_MS. */
export function createPool(url: string, max = 10): Pool {
  const pool = new Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: DATABASE_TIMEOUT_MS,
    query_timeout: DATABASE_TIMEOUT_MS,
    statement_timeout: DATABASE_TIMEOUT_MS,
    idleTimeoutMillis: 10_000,
  });
  // An idle connection whose server went away: the pool drops it and makes a new one when asked.
  pool.on("error", () => undefined);
  // A server that goes away tells each connection, sometimes twice (its FATAL message, then the
  // closed socket), and sometimes while no statement waits for the answer: the statement in
  // flight, if any, fails by itself, and the event must not end the process.
  pool.on("connect", (client) => client.on("error", () => undefined));
  return pool;
}

export class PostgresDataStore implements DataStore {
  /** Per user, the end of the last upload queued in this process: true when the database answered it. */
  private readonly turns = new Map<string, Promise<boolean>>();

  constructor(readonly pool: Pool) {}

  /** Why this instance cannot serve (for /ready), or undefined when PostgreSQL answers. */
  async notReadyReason(): Promise<string | undefined> {
    try {
      await this.pool.query("SELECT 1");
      return undefined;
    } catch (error) {
      return `PostgreSQL at ${where(this.pool)} is not answering: ${(error as Error).message}`;
    }
  }

  createUser(user: UserRecord): Promise<boolean> {
    return guardDatabase("create a user", async () => {
      const inserted = await this.pool.query(
        `INSERT INTO users (user_id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (username) DO NOTHING`,
        [user.user_id, user.username, user.password_hash, user.created_at],
      );
      return inserted.rowCount === 1;
    });
  }

  getUser(username: string): Promise<UserRecord | null> {
    return guardDatabase("read a user", async () => {
      const found = await this.pool.query<UserRow>("SELECT * FROM users WHERE username = $1", [username]);
      return found.rows[0] ? userOf(found.rows[0]) : null;
    });
  }

  replaceUser(user: UserRecord): Promise<boolean> {
    return guardDatabase("update a user", async () => {
      const updated = await this.pool.query("UPDATE users SET password_hash = $2 WHERE user_id = $1", [
        user.user_id,
        user.password_hash,
      ]);
      return updated.rowCount === 1;
    });
  }

  putFileIfAbsent(file: FileRecord, quota: Quota): Promise<PutResult> {
    return this.inTurn(file.owner, () => this.storeFile(file, quota));
  }

  /**
   * The uploads of one user take turns in this process before they take a connection: ten at
   * once would otherwise hold ten of the pool's connections, nine of them only waiting for the
   * row lock below (and counting that wait against the 750 ms bound), and leave none for other
   * users' requests. The live view's burst of ten uploads met exactly that. Across processes the
   * row lock alone does the work. When the database did not answer the upload before, the ones
   * waiting behind it answer 503 at once rather than each waiting its own 750 ms.
   */
  private async inTurn<T>(owner: string, work: () => Promise<T>): Promise<T> {
    const before = this.turns.get(owner) ?? Promise.resolve(true);
    let finish!: (answered: boolean) => void;
    const mine = new Promise<boolean>((resolve) => (finish = resolve));
    this.turns.set(owner, mine);
    let answered = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      const waited = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), TURN_WAIT_MS)));
      if (!(await Promise.race([before, waited])))
        throw new DatabaseUnavailableError("the database did not answer this user's upload before this one in time");
      return await work();
    } catch (error) {
      if (error instanceof DatabaseUnavailableError) answered = false;
      throw error;
    } finally {
      clearTimeout(timer);
      finish(answered);
      if (this.turns.get(owner) === mine) this.turns.delete(owner);
    }
  }

  private storeFile(file: FileRecord, quota: Quota): Promise<PutResult> {
    return this.transaction("store a file", async (client) => {
      // The user's row, locked until COMMIT: this user's other uploads wait here, on every
      // instance, so the count below cannot change before the insert. An id with no row (an
      // account that no longer exists) is serialised by an advisory lock on the id instead.
      const locked = await client.query("SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE", [file.owner]);
      if (locked.rowCount === 0) await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [file.owner]);
      const first = await findFile(client, file.owner, file.file_id);
      if (first) return { created: false, file: first }; // a replay: the first upload stands
      const usage = await client.query<{ files: number; bytes: string }>(
        "SELECT count(*)::int AS files, coalesce(sum(size), 0)::bigint AS bytes FROM files WHERE user_id = $1",
        [file.owner],
      );
      const files = usage.rows[0].files;
      const bytes = Number(usage.rows[0].bytes);
      if (files + 1 > quota.maxFiles || bytes + file.size > quota.maxBytes) return { quotaExceeded: { files, bytes } };
      await client.query(
        `INSERT INTO files (user_id, file_id, filename, size, content, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
        [file.owner, file.file_id, file.filename, file.size, Buffer.from(file.content, "utf8"), file.created_at],
      );
      return { created: true, file };
    });
  }

  listFiles(owner: string): Promise<FileSummary[]> {
    return guardDatabase("list files", async () => {
      // Metadata only: the content column is never read for a listing.
      const found = await this.pool.query<Omit<FileRow, "content">>(
        "SELECT file_id, filename, size, created_at FROM files WHERE user_id = $1",
        [owner],
      );
      return found.rows
        .map(({ file_id, filename, size, created_at }) => ({
          file_id,
          filename,
          size,
          created_at: created_at.toISOString(),
        }))
        .sort(compareFiles);
    });
  }

  getFile(owner: string, fileId: string): Promise<FileRecord | null> {
    return guardDatabase("read a file", () => findFile(this.pool, owner, fileId));
  }

  deleteFile(owner: string, fileId: string): Promise<boolean> {
    return guardDatabase("delete a file", async () => {
      const deleted = await this.pool.query("DELETE FROM files WHERE user_id = $1 AND file_id = $2", [owner, fileId]);
      return deleted.rowCount === 1;
    });
  }

  close(): Promise<void> {
    return this.pool.end();
  }

  /** BEGIN, `work`, COMMIT; ROLLBACK on any error. A connection that broke midway is not given back to the pool. */
  private transaction<T>(action: string, work: (client: PoolClient) => Promise<T>): Promise<T> {
    return guardDatabase(action, async () => {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query("BEGIN");
        const result = await work(client);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        broken = error as Error;
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      } finally {
        client.release(broken !== undefined && isServerTrouble(broken) ? broken : undefined);
      }
    });
  }
}
