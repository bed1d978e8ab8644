// Phase 1's data store: one JSON file per record under DATA_DIR (users/<name>.json,
// files/<user id>/<file_id>.json for a file's metadata, <file_id>.content for its content),
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
    const { content, ...metadata } = file;
    // The content first, then the metadata: a listing never names a file whose content is not there yet.
    await this.replaceWith(this.contentPath(file.owner, file.file_id, file.size), content);
    if (await this.publishIfAbsent(target, metadata)) return { created: true, file };
    const winner = await this.getFile(file.owner, file.file_id);
    // Deleted between our failed publish and this read: publish ours again.
    if (!winner) return this.putFileIfAbsent(file, quota);
    return { created: false, file: winner };
  }

  /** `<file_id>.<size>.content`: the size in the name, so that the quota needs no read. */
  private contentPath(owner: string, fileId: string, size: number): string {
    return path.join(this.filesDir, owner, `${fileId}.${size}.content`);
  }

  /** The owner's file count and bytes, from the content files' names. */
  private async usage(ownerDir: string): Promise<{ files: number; bytes: number }> {
    let names: string[];
    try {
      names = await fs.readdir(ownerDir);
    } catch (error) {
      throw storeError("list files", error);
    }
    const sizes = names.map((name) => /^[0-9a-f]{32}\.(\d+)\.content$/.exec(name)?.[1]).filter((size): size is string => size !== undefined);
    return { files: sizes.length, bytes: sizes.reduce((sum, size) => sum + Number(size), 0) };
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
      names.filter((name) => name.endsWith(".json")).map((name) => this.readRecord<FileRecord>(path.join(ownerDir, name))),
    );
    return records
      .filter((record): record is FileRecord => record !== null) // deleted while we listed
      .map(({ file_id, filename, size, created_at }) => ({ file_id, filename, size, created_at }))
      .sort(compareFiles);
  }

  async getFile(owner: string, fileId: string): Promise<FileRecord | null> {
    const metadata = await this.readRecord<FileRecord>(path.join(this.filesDir, owner, `${fileId}.json`));
    if (!metadata) return null;
    if (typeof metadata.content === "string") return metadata; // written before content was kept apart
    try {
      return { ...metadata, content: await fs.readFile(this.contentPath(owner, fileId, metadata.size), "utf8") };
    } catch (error) {
      if (errorCode(error) === "ENOENT") return null; // deleted while we read
      throw storeError("read a file", error);
    }
  }

  async deleteFile(owner: string, fileId: string): Promise<boolean> {
    const metadata = await this.readRecord<FileRecord>(path.join(this.filesDir, owner, `${fileId}.json`));
    try {
      await fs.unlink(path.join(this.filesDir, owner, `${fileId}.json`));
      if (metadata) await fs.unlink(this.contentPath(owner, fileId, metadata.size)).catch(() => undefined);
      return true;
    } catch (error) {
      if (errorCode(error) === "ENOENT") return false;
      throw storeError("delete a file", error);
    }
  }

  async close(): Promise<void> {
    // Nothing stays open between calls: every call opens and closes its own files.
  }

  /** Writes `text` whole to tmp/, then renames it over `target`: readers see the old file or the new one, never half. */
  private async replaceWith(target: string, text: string): Promise<void> {
    const temp = path.join(this.tmpDir, `${randomBytes(12).toString("hex")}.content`);
    try {
      await fs.writeFile(temp, text, { flag: "wx" });
      await fs.rename(temp, target);
    } catch (error) {
      await fs.unlink(temp).catch(() => undefined);
      throw storeError("write a file", error);
    }
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
