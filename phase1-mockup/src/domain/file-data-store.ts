// Phase 1's data store: one JSON file per record under DATA_DIR (users/<name>.json,
// files/<user>/<file_id>.json), shared safely by several server processes. Each record is
// written whole to DATA_DIR/tmp/ and published with link(2): no reader ever sees half a record
// (docs/concepts.md, "what both servers do the same way").

import { randomBytes } from "node:crypto";
import { mkdirSync, promises as fs } from "node:fs";
import path from "node:path";
import { compareFiles, DataStore, FileRecord, FileSummary, UserRecord } from "./data-store";
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

  async putFileIfAbsent(file: FileRecord): Promise<{ created: boolean; file: FileRecord }> {
    const ownerDir = path.join(this.filesDir, file.owner);
    try {
      await fs.mkdir(ownerDir, { recursive: true });
    } catch (error) {
      throw storeError("create a directory", error);
    }
    const target = path.join(ownerDir, `${file.file_id}.json`);
    if (await this.publishIfAbsent(target, file)) return { created: true, file };
    const first = await this.readRecord<FileRecord>(target);
    // Deleted between our failed publish and this read: the replay's record is gone, so publish ours.
    if (!first) return this.putFileIfAbsent(file);
    return { created: false, file: first };
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
    return this.readRecord<FileRecord>(path.join(this.filesDir, owner, `${fileId}.json`));
  }

  async deleteFile(owner: string, fileId: string): Promise<boolean> {
    try {
      await fs.unlink(path.join(this.filesDir, owner, `${fileId}.json`));
      return true;
    } catch (error) {
      if (errorCode(error) === "ENOENT") return false;
      throw storeError("delete a file", error);
    }
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
