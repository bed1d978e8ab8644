// Phase 1's data store: one JSON file per record under DATA_DIR (users/<name>.json,
// files/<user id>/<file_id>.json for a file's metadata, and its content apart, in
// <file_id>.<random>.<size>.content, the name the metadata records),
// shared safely by several server processes. Each record is written whole to DATA_DIR/tmp/ and
// published with link(2): no reader ever sees half a record (docs/concepts.md, "what both
// servers do the same way"). A listing reads metadata only, never a file's content.

import { randomBytes } from "node:crypto";
import { mkdirSync, promises as fs } from "node:fs";
import path from "node:path";
import { compareFiles, DataStore, FileRecord, FileSummary, PutResult, Quota, UserRecord } from "./data-store";
import { StoreUnavailableError } from "./errors";

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function storeError(action: string, error: unknown): StoreUnavailableError {
  const reason = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`data directory: could not ${action}: ${reason}`, { cause: error });
}

/** A file's metadata as it is kept on disk: the content's own file named, the content itself not there. */
type StoredFile = Omit<FileRecord, "content"> & { content?: string; content_file?: string };

export class FileDataStore implements DataStore {
  private readonly usersDir: string;
  private readonly filesDir: string;
  private readonly tmpDir: string;

  /** Creates the directories it needs; callers validate names before they reach a path. */
  constructor(readonly dataDir: string) {
    this.usersDir = path.join(dataDir, "users");
    this.filesDir = path.join(dataDir, "files");
    this.tmpDir = path.join(dataDir, "tmp");
    for (const dir of [this.usersDir, this.filesDir, this.tmpDir]) mkdirSync(dir, { recursive: true });
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
    const temp = path.join(this.tmpDir, `${randomBytes(12).toString("hex")}.json`);
    try {
      await fs.writeFile(temp, JSON.stringify(user), { flag: "wx" });
      await fs.rename(temp, target);
      return true;
    } catch (error) {
      await fs.unlink(temp).catch(() => undefined);
      throw storeError("write a record", error);
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
    if (first) return { created: false, file: first }; // a replay: the first upload stands
    // The quota, counted from the directory's names alone (a content file's name carries its
    // size). Two uploads at once may both pass it and overshoot by one file each: phase 1 has
    // no transaction to count and publish in one step (phase 2 has: redis-data-store.ts).
    const usage = await this.usage(ownerDir);
    if (usage.files + 1 > quota.maxFiles || usage.bytes + file.size > quota.maxBytes) return { quotaExceeded: usage };
    const { content, ...fields } = file;
    // The content first, under a name of its own, then the metadata naming it: a listing never
    // names a file whose content is not there, and two uploads at once never share a content file.
    const contentFile = `${file.file_id}.${randomBytes(8).toString("hex")}.${file.size}.content`;
    try {
      await fs.writeFile(path.join(ownerDir, contentFile), content, { flag: "wx" });
    } catch (error) {
      throw storeError("write a file", error);
    }
    if (await this.publishIfAbsent(target, { ...fields, content_file: contentFile })) return { created: true, file };
    await fs.unlink(path.join(ownerDir, contentFile)).catch(() => undefined); // another upload with this key won
    const winner = await this.getFile(file.owner, file.file_id);
    // Deleted between our failed publish and this read: publish ours again.
    if (!winner) return this.putFileIfAbsent(file, quota);
    return { created: false, file: winner };
  }

  /**
   * The owner's file count and bytes, from the directory's names alone: a content file's name
   * carries its size, and it counts when its file's metadata is there (a crash between the two
   * writes leaves a content file that counts for nothing).
   */
  private async usage(ownerDir: string): Promise<{ files: number; bytes: number }> {
    let names: string[];
    try {
      names = await fs.readdir(ownerDir);
    } catch (error) {
      throw storeError("list files", error);
    }
    const present = new Set(names);
    let files = 0;
    let bytes = 0;
    for (const name of names) {
      const match = /^([0-9a-f]{32})\.[0-9a-f]{16}\.(\d+)\.content$/.exec(name);
      if (!match || !present.has(`${match[1]}.json`)) continue;
      files += 1;
      bytes += Number(match[2]);
    }
    return { files, bytes };
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
   * cannot both win. A process killed midway leaves at worst an orphan in tmp/. No fsync: the
   * lab kills processes, not machines, and the page cache survives a SIGKILL.
   */
  private async publishIfAbsent(target: string, record: object): Promise<boolean> {
    const temp = path.join(this.tmpDir, `${randomBytes(12).toString("hex")}.json`);
    try {
      await fs.writeFile(temp, JSON.stringify(record), { flag: "wx" });
      await fs.link(temp, target); // atomic: either the whole record appears, or EEXIST
      return true;
    } catch (error) {
      if (errorCode(error) === "EEXIST") return false;
      throw storeError("write a record", error);
    } finally {
      await fs.unlink(temp).catch(() => undefined);
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
