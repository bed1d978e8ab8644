// Phase 2's data store: phase 1's DataStore interface with Redis underneath, so that every
// instance of a run shares the users and the files (docs/transition-to-phase2.md, "The
// one-line store change").
//
//   <prefix>user:<name>               the user record, one JSON string, created with SET NX
//   <prefix>file:<user>:<file_id>     one file record, one JSON string
//   <prefix>files:<user>              a set of the user's file ids
//
// Sets and SET NX, never a read-modify-write JSON array: two instances writing at once can
// never overwrite each other here. (Sessions are another story: docs/transition-to-phase2.md,
// "The race that no store fixes".)

import type Redis from "ioredis";
import { compareFiles, DataStore, FileRecord, FileSummary, UserRecord } from "../../phase1-mockup/src/domain/data-store";
import { ConfirmedWrite, guardRedis } from "./redis-client";

export class RedisDataStore implements DataStore {
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    /** Every write goes through it: REDIS_WAIT_REPLICAS's WAIT (redis-client.ts, replicaConfirmation). */
    private readonly confirmed: ConfirmedWrite = (write) => write(),
  ) {}

  private userKey(username: string): string {
    return `${this.prefix}user:${username}`;
  }

  private fileKey(owner: string, fileId: string): string {
    return `${this.prefix}file:${owner}:${fileId}`;
  }

  private fileSetKey(owner: string): string {
    return `${this.prefix}files:${owner}`;
  }

  createUser(user: UserRecord): Promise<boolean> {
    return guardRedis("create a user", async () => (await this.confirmed(() => this.client.set(this.userKey(user.username), JSON.stringify(user), "NX"))) === "OK");
  }

  getUser(username: string): Promise<UserRecord | null> {
    return guardRedis("read a user", async () => parse<UserRecord>(await this.client.get(this.userKey(username))));
  }

  putFileIfAbsent(file: FileRecord): Promise<{ created: boolean; file: FileRecord }> {
    return guardRedis("store a file", async () => {
      const key = this.fileKey(file.owner, file.file_id);
      // Every command of a MULTI runs whatever the one before it answered, so the guard is the
      // SET NX of the record itself: a replay's transaction changes nothing (the SADD is a no-op).
      // Confirmed on replicas whether or not it stored anything: a replay's first write may not have reached one.
      const results = await this.confirmed(() => this.client.multi().set(key, JSON.stringify(file), "NX").sadd(this.fileSetKey(file.owner), file.file_id).get(key).exec());
      if (!results) throw new Error("the transaction was discarded");
      const [[setError, setReply], , [getError, stored]] = results;
      if (setError || getError) throw setError ?? getError;
      const first = parse<FileRecord>(stored as string | null);
      if (!first) throw new Error("the file record vanished right after it was stored");
      return { created: setReply === "OK", file: first };
    });
  }

  listFiles(owner: string): Promise<FileSummary[]> {
    return guardRedis("list files", async () => {
      const ids = await this.client.smembers(this.fileSetKey(owner));
      if (ids.length === 0) return [];
      const records = await this.client.mget(ids.map((id) => this.fileKey(owner, id)));
      return records
        .map((text) => parse<FileRecord>(text))
        .filter((record): record is FileRecord => record !== null) // deleted while we listed
        .map(({ file_id, filename, size, created_at }) => ({ file_id, filename, size, created_at }))
        .sort(compareFiles);
    });
  }

  getFile(owner: string, fileId: string): Promise<FileRecord | null> {
    return guardRedis("read a file", async () => parse<FileRecord>(await this.client.get(this.fileKey(owner, fileId))));
  }

  deleteFile(owner: string, fileId: string): Promise<boolean> {
    return guardRedis("delete a file", async () => {
      const results = await this.confirmed(() => this.client.multi().del(this.fileKey(owner, fileId)).srem(this.fileSetKey(owner), fileId).exec());
      if (!results) throw new Error("the transaction was discarded");
      const [[error, deleted]] = results;
      if (error) throw error;
      return deleted === 1;
    });
  }

  async close(): Promise<void> {
    // The client belongs to the app, which closes it once (app.ts).
  }
}

function parse<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}
