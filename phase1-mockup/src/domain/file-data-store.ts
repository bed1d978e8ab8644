// Phase 1's data store: one JSON file per record under DATA_DIR (users/<name>.json,
// files/<user id>/<file_id>.json for a file's metadata, and its content apart, in
// <file_id>.<random>.<size>.content, the name the metadata records),
// shared safely by several server processes. Each record is written whole to DATA_DIR/tmp/ and
// published with link(2): no reader ever sees half a record (docs/concepts.md, "what both
// servers do the same way"). A listing reads metadata only, never a file's content. An upload
// counts the user's files and writes under the user's reservation (disk-reservation.ts), so
// the quota holds exactly; a failed write removes what it began, and clean() removes what a
// killed process left (disk-clean-up.ts; docs/api-reference.md, "POST /api/upload").

import { randomBytes } from "node:crypto";
import { mkdirSync, promises as fs } from "node:fs";
import path from "node:path";
import { compareFiles, DataStore, FileRecord, FileSummary, PutResult, Quota, UserRecord } from "./data-store";
import { cleanDataDir, CleanReport, CONTENT_FILE, removeAbandonedTempFiles, removeOrphans } from "./disk-clean-up";
import { done, errorCode, Reservations, workFileName } from "./disk-reservation";
import { InsufficientStorageError, StoreUnavailableError } from "./errors";

/** A disk error as the HTTP layer answers it: 507 when the disk is full, 503 otherwise. */
function storeError(action: string, error: unknown): Error {
  if (error instanceof StoreUnavailableError || error instanceof InsufficientStorageError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  const message = `data directory: could not ${action}: ${reason}`;
  const full = errorCode(error) === "ENOSPC" || errorCode(error) === "EDQUOT";
  return full
    ? new InsufficientStorageError(message, { cause: error })
    : new StoreUnavailableError(message, { cause: error });
}

/** A file's metadata as it is kept on disk: the content's own file named, the content itself not there. */
type StoredFile = Omit<FileRecord, "content"> & { content?: string; content_file?: string };

export interface FileDataStoreOptions {
  /** How long an upload may wait for its user's reservation before it answers 503 (default 5 s). */
  reservationWaitMs?: number;
}

export class FileDataStore implements DataStore {
  private readonly usersDir: string;
  private readonly filesDir: string;
  private readonly tmpDir: string;
  private readonly locksDir: string;
  private readonly reservations: Reservations;

  /** Creates the directories it needs; callers validate names before they reach a path. */
  constructor(
    readonly dataDir: string,
    options: FileDataStoreOptions = {},
  ) {
    this.usersDir = path.join(dataDir, "users");
    this.filesDir = path.join(dataDir, "files");
    this.tmpDir = path.join(dataDir, "tmp");
    this.locksDir = path.join(dataDir, "locks");
    for (const dir of [this.usersDir, this.filesDir, this.tmpDir, this.locksDir]) mkdirSync(dir, { recursive: true });
    this.reservations = new Reservations(this.locksDir, options.reservationWaitMs);
  }

  async createUser(user: UserRecord): Promise<boolean> {
    return this.publishIfAbsent(path.join(this.usersDir, `${user.username}.json`), user);
  }

  async getUser(username: string): Promise<UserRecord | null> {
    return this.readRecord<UserRecord>(path.join(this.usersDir, `${username}.json`));
  }

  async replaceUser(user: UserRecord): Promise<boolean> {
    const target = path.join(this.usersDir, `${user.username}.json`);
    if (!(await this.readRecord<UserRecord>(target))) return false; // no user is ever deleted: it stays absent
    // rename(2) replaces the name in one step: a reader sees the old record or the new one, whole.
    const name = workFileName("json"); // named with the pid, for clean() to judge
    const temp = path.join(this.tmpDir, name);
    try {
      await fs.writeFile(temp, JSON.stringify(user), { flag: "wx" });
      await fs.rename(temp, target);
      return true;
    } catch (error) {
      await fs.unlink(temp).catch(() => undefined);
      throw storeError("write a record", error);
    } finally {
      done(name);
    }
  }

  async putFileIfAbsent(file: FileRecord, quota: Quota): Promise<PutResult> {
    const ownerDir = path.join(this.filesDir, file.owner);
    try {
      await fs.mkdir(ownerDir, { recursive: true });
    } catch (error) {
      throw storeError("create a directory", error);
    }
    const target = path.join(ownerDir, `${file.file_id}.json`);
    const first = await this.readRecord<FileRecord>(target);
    if (first) return { created: false, file: first }; // a replay: the first upload stands, even at the quota
    try {
      // Count and write as one step: no other upload of this user, from any process on this
      // DATA_DIR, counts or writes until this one has published or given up.
      return await this.reservations.run(file.owner, async (abandonedClaims) => {
        // A process died holding this reservation, maybe in the middle of a write: what it began goes first.
        if (abandonedClaims > 0) {
          await removeOrphans(ownerDir);
          await removeAbandonedTempFiles(this.tmpDir);
        }
        const stored = await this.readRecord<FileRecord>(target);
        if (stored) return { created: false, file: stored }; // published while we waited our turn
        const usage = await this.usage(ownerDir);
        if (usage.files + 1 > quota.maxFiles || usage.bytes + file.size > quota.maxBytes)
          return { quotaExceeded: usage };
        return this.writeFile(ownerDir, target, file);
      });
    } catch (error) {
      throw storeError("reserve the user's folder", error);
    }
  }

  /**
   * The content first, under a name of its own, then the metadata naming it: a listing never
   * names a file whose content is not there, and two uploads never share a content file. Any
   * error (a full disk, most likely) removes the content begun: nothing half-written stays.
   */
  private async writeFile(ownerDir: string, target: string, file: FileRecord): Promise<PutResult> {
    const { content, ...fields } = file;
    const contentPath = path.join(ownerDir, `${file.file_id}.${randomBytes(8).toString("hex")}.${file.size}.content`);
    let published: boolean;
    try {
      await fs.writeFile(contentPath, content, { flag: "wx" });
      published = await this.publishIfAbsent(target, { ...fields, content_file: path.basename(contentPath) });
    } catch (error) {
      await fs.unlink(contentPath).catch(() => undefined);
      throw storeError("write a file", error);
    }
    if (published) return { created: true, file };
    // Taken: only a process that publishes without the reservation (an older version) gets here.
    await fs.unlink(contentPath).catch(() => undefined);
    const winner = await this.readRecord<FileRecord>(target);
    if (winner) return { created: false, file: winner };
    return this.writeFile(ownerDir, target, file); // and deleted again since: ours, then
  }

  /**
   * The owner's file count and bytes: one file per metadata record, of the size of the content
   * file it names. Read from the directory's names (a content file's name carries its size):
   * the content is written before its metadata and removed after it, so a record always names
   * a content file that exists, and when its file_id has exactly one, that is the one. A
   * file_id with more (a content file left by a crash, then the same Idempotency-Key again)
   * or none (a record from before content was kept apart) has its record read. Content no
   * record names counts for nothing.
   */
  private async usage(ownerDir: string): Promise<{ files: number; bytes: number }> {
    let names: string[];
    try {
      names = await fs.readdir(ownerDir);
    } catch (error) {
      throw storeError("list files", error);
    }
    const contentById = new Map<string, { name: string; size: number }[]>();
    for (const name of names) {
      const match = CONTENT_FILE.exec(name);
      if (match) contentById.set(match[1], [...(contentById.get(match[1]) ?? []), { name, size: Number(match[2]) }]);
    }
    let files = 0;
    let bytes = 0;
    for (const name of names.filter((each) => each.endsWith(".json"))) {
      const contents = contentById.get(name.slice(0, -".json".length)) ?? [];
      if (contents.length === 1) {
        files += 1;
        bytes += contents[0].size;
        continue;
      }
      const record = await this.readRecord<StoredFile>(path.join(ownerDir, name));
      if (!record) continue; // deleted meanwhile
      files += 1;
      bytes += record.size;
    }
    return { files, bytes };
  }

  /**
   * Removes what stopped processes left in DATA_DIR (disk-clean-up.ts). The servers call it
   * before they serve (phase1-app.ts).
   */
  clean(): Promise<CleanReport> {
    return cleanDataDir({ filesDir: this.filesDir, tmpDir: this.tmpDir, locksDir: this.locksDir }, this.reservations);
  }

  async listFiles(owner: string): Promise<FileSummary[]> {
    const ownerDir = path.join(this.filesDir, owner);
    let names: string[];
    try {
      names = await fs.readdir(ownerDir);
    } catch (error) {
      if (errorCode(error) === "ENOENT") return [];
      throw storeError("list files", error);
    }
    const records = await Promise.all(
      names
        .filter((name) => name.endsWith(".json"))
        .map((name) => this.readRecord<FileRecord>(path.join(ownerDir, name))),
    );
    return records
      .filter((record): record is FileRecord => record !== null) // deleted while we listed
      .map(({ file_id, filename, size, created_at }) => ({ file_id, filename, size, created_at }))
      .sort(compareFiles);
  }

  async getFile(owner: string, fileId: string): Promise<FileRecord | null> {
    const stored = await this.readRecord<StoredFile>(path.join(this.filesDir, owner, `${fileId}.json`));
    if (!stored) return null;
    const { content_file: contentFile, ...record } = stored;
    if (!contentFile) return record.content === undefined ? null : (record as FileRecord); // written before content was kept apart
    try {
      return { ...record, content: await fs.readFile(path.join(this.filesDir, owner, contentFile), "utf8") };
    } catch (error) {
      if (errorCode(error) === "ENOENT") return null; // deleted while we read
      throw storeError("read a file", error);
    }
  }

  /** No reservation needed: a delete can only lower the usage an upload counts. */
  async deleteFile(owner: string, fileId: string): Promise<boolean> {
    const stored = await this.readRecord<StoredFile>(path.join(this.filesDir, owner, `${fileId}.json`));
    try {
      await fs.unlink(path.join(this.filesDir, owner, `${fileId}.json`));
    } catch (error) {
      if (errorCode(error) === "ENOENT") return false;
      throw storeError("delete a file", error);
    }
    // Exactly the content this metadata named: a replay that publishes again meanwhile has its own.
    if (stored?.content_file)
      await fs.unlink(path.join(this.filesDir, owner, stored.content_file)).catch(() => undefined);
    return true;
  }

  async close(): Promise<void> {
    // Nothing stays open between calls: every call opens and closes its own files.
  }

  /**
   * Writes `record` whole to tmp/, then links it to `target` unless `target` exists. link(2)
   * fails with EEXIST when the name is taken: one atomic "create if absent" that two processes
   * cannot both win. The temp record is removed whatever happens; a process killed midway
   * leaves it in tmp/, named with its pid, for clean() to find. No fsync: the lab kills
   * processes, not machines, and the page cache survives a SIGKILL.
   */
  private async publishIfAbsent(target: string, record: object): Promise<boolean> {
    const name = workFileName("json");
    const temp = path.join(this.tmpDir, name);
    try {
      await fs.writeFile(temp, JSON.stringify(record), { flag: "wx" });
      await fs.link(temp, target); // atomic: either the whole record appears, or EEXIST
      return true;
    } catch (error) {
      if (errorCode(error) === "EEXIST") return false;
      throw storeError("write a record", error);
    } finally {
      await fs.unlink(temp).catch(() => undefined);
      done(name);
    }
  }

  private async readRecord<T>(file: string): Promise<T | null> {
    let text: string;
    try {
      text = await fs.readFile(file, "utf8");
    } catch (error) {
      if (errorCode(error) === "ENOENT") return null;
      throw storeError("read a record", error);
    }
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw storeError(`parse ${path.relative(this.dataDir, file)}`, error);
    }
  }
}
