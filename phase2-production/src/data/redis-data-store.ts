// Phase 2's data store: phase 1's DataStore interface with Redis underneath, so that every
// instance of a run shares the users and the files (docs/transition-to-phase2.md, "The
// one-line store change").
//
//   <prefix>user:<name>                    the user record, one JSON string, created with SET NX
//   <prefix>file:{<user id>}:<file_id>     one file's metadata, one JSON string
//   <prefix>content:{<user id>}:<file_id>  its content, apart: a listing never reads it
//   <prefix>files:{<user id>}              a set of the user's file ids
//   <prefix>usage:{<user id>}              a hash: the bytes the user holds (for the quota)
//
// The braces are a hash tag: on a Redis Cluster only `<user id>` decides a key's slot, so all
// of one user's keys live on one node, and the upload's script and the listing's MGET, which
// name several of them at once, are allowed (without the tag a Cluster refuses them with
// CROSSSLOT). On one Redis the braces change nothing.
// Files are kept under the user's immutable id, not the name: after a store wipe, a session
// from before names an id that nobody has any more. An upload and a delete are each one Lua
// script, so the quota is counted and the file published in one step; never a read-modify-write
// JSON array: two instances writing at once can never overwrite each other here. (Sessions are
// another story: docs/transition-to-phase2.md, "The race that no store fixes".)

import type { RedisClient } from "../operations/redis-client";
import {
  compareFiles,
  DataStore,
  FileRecord,
  FileSummary,
  PutResult,
  Quota,
  UserRecord,
} from "../../../phase1-mockup/src/domain/data-store";
import { ConfirmedWrite, guardRedis } from "../operations/redis-client";

// KEYS: metadata, content, the set of ids, usage. ARGV: metadata JSON, content, file id, size, max files, max bytes.
// Answers {1, metadata} when stored, {0, the first metadata} on a replay, {-1, files, bytes} over the quota.
const PUT_FILE = `
local first = redis.call('GET', KEYS[1])
if first then return {0, first} end
local files = redis.call('SCARD', KEYS[3])
local bytes = tonumber(redis.call('HGET', KEYS[4], 'bytes') or '0')
if files + 1 > tonumber(ARGV[5]) or bytes + tonumber(ARGV[4]) > tonumber(ARGV[6]) then return {-1, files, bytes} end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('HINCRBY', KEYS[4], 'bytes', ARGV[4])
return {1, ARGV[1]}`;

// KEYS: metadata, content, the set of ids, usage. ARGV: file id. Answers 1 when a file was deleted.
// A record from before content was kept apart (its content inside) was never counted: not uncounted either.
const DELETE_FILE = `
local metadata = redis.call('GET', KEYS[1])
if not metadata then return 0 end
local counted = redis.call('EXISTS', KEYS[2]) == 1
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
if counted then
  local left = redis.call('HINCRBY', KEYS[4], 'bytes', -(cjson.decode(metadata).size or 0))
  if left < 0 then redis.call('HSET', KEYS[4], 'bytes', 0) end
end
return 1`;

type ScriptClient = RedisClient & {
  labPutFile(...args: Array<string | number>): Promise<[number, string | number, number?]>;
  labDeleteFile(...args: string[]): Promise<number>;
};

export class RedisDataStore implements DataStore {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    /** Every write goes through it: REDIS_WAIT_REPLICAS's WAIT (operations/redis-client.ts, replicaConfirmation). */
    private readonly confirmed: ConfirmedWrite = (write) => write(),
  ) {
    // EVALSHA, loaded again by ioredis when Redis restarted empty (NOSCRIPT).
    if (!("labPutFile" in client)) {
      client.defineCommand("labPutFile", { numberOfKeys: 4, lua: PUT_FILE });
      client.defineCommand("labDeleteFile", { numberOfKeys: 4, lua: DELETE_FILE });
    }
  }

  private get scripts(): ScriptClient {
    return this.client as ScriptClient;
  }

  private contentKey(owner: string, fileId: string): string {
    return `${this.prefix}content:{${owner}}:${fileId}`;
  }

  private usageKey(owner: string): string {
    return `${this.prefix}usage:{${owner}}`;
  }

  private userKey(username: string): string {
    return `${this.prefix}user:${username}`;
  }

  private fileKey(owner: string, fileId: string): string {
    return `${this.prefix}file:{${owner}}:${fileId}`;
  }

  private fileSetKey(owner: string): string {
    return `${this.prefix}files:{${owner}}`;
  }

  createUser(user: UserRecord): Promise<boolean> {
    return guardRedis(
      "create a user",
      async () =>
        (await this.confirmed(() => this.client.set(this.userKey(user.username), JSON.stringify(user), "NX"))) === "OK",
    );
  }

  replaceUser(user: UserRecord): Promise<boolean> {
    return guardRedis(
      "update a user",
      async () =>
        (await this.confirmed(() => this.client.set(this.userKey(user.username), JSON.stringify(user), "XX"))) === "OK",
    );
  }

  getUser(username: string): Promise<UserRecord | null> {
    return guardRedis("read a user", async () => parse<UserRecord>(await this.client.get(this.userKey(username))));
  }

  putFileIfAbsent(file: FileRecord, quota: Quota): Promise<PutResult> {
    return guardRedis("store a file", async () => {
      const { content, ...metadata } = file;
      const keys = [
        this.fileKey(file.owner, file.file_id),
        this.contentKey(file.owner, file.file_id),
        this.fileSetKey(file.owner),
        this.usageKey(file.owner),
      ];
      // Confirmed on replicas whether or not it stored anything: a replay's first write may not have reached one.
      const [outcome, first, bytes] = await this.confirmed(() =>
        this.scripts.labPutFile(
          ...keys,
          JSON.stringify(metadata),
          content,
          file.file_id,
          file.size,
          quota.maxFiles,
          quota.maxBytes,
        ),
      );
      if (outcome === -1) return { quotaExceeded: { files: Number(first), bytes: Number(bytes) } };
      if (outcome === 1) return { created: true, file };
      const stored = parse<FileRecord>(String(first));
      if (!stored) throw new Error("the file record vanished right after it was stored");
      const full = await this.getFile(file.owner, file.file_id);
      return { created: false, file: full ?? { ...stored, content: stored.content ?? "" } };
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
    return guardRedis("read a file", async () => {
      const [metadata, content] = await this.client.mget(this.fileKey(owner, fileId), this.contentKey(owner, fileId));
      const record = parse<FileRecord>(metadata);
      if (!record) return null;
      // A record written before content was kept apart still holds its content.
      return { ...record, content: content ?? record.content ?? "" };
    });
  }

  deleteFile(owner: string, fileId: string): Promise<boolean> {
    return guardRedis("delete a file", async () => {
      const keys = [
        this.fileKey(owner, fileId),
        this.contentKey(owner, fileId),
        this.fileSetKey(owner),
        this.usageKey(owner),
      ];
      return (await this.confirmed(() => this.scripts.labDeleteFile(...keys, fileId))) === 1;
    });
  }

  async close(): Promise<void> {
    // The client belongs to the app, which closes it once (app.ts).
  }
}

function parse<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}
