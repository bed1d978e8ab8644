// Uploading, listing, reading and deleting files, the same in every design. Uploads are atomic
// and idempotent (docs/api-reference.md, "POST /api/upload"): with an Idempotency-Key the file
// id is an HMAC of the user and the key, so a client that retries after a lost answer computes
// the same id and the store publishes the record only once.

import { createHmac, randomBytes } from "node:crypto";
import { DataStore, DEFAULT_QUOTA, FileRecord, FileSummary, Quota } from "./data-store";
import { ApiError, notFound } from "./errors";
import { requireObject, validateContent, validateFilename, validateIdempotencyKey } from "./validation";

const FILE_ID = /^[0-9a-f]{32}$/;

export interface UploadResult {
  created: boolean; // false: a replay of an earlier upload with the same key
  file: FileRecord;
}

export class FileService {
  constructor(
    private readonly store: DataStore,
    private readonly options: { maxFileBytes: number; idSecret: string; quota?: Quota },
  ) {}

  get maxFileBytes(): number {
    return this.options.maxFileBytes;
  }

  private get quota(): Quota {
    return this.options.quota ?? DEFAULT_QUOTA;
  }

  async upload(owner: string, body: unknown, idempotencyKey: string | undefined): Promise<UploadResult> {
    const input = requireObject(body);
    const filename = validateFilename(input.filename);
    const content = validateContent(input.content);
    const key = validateIdempotencyKey(idempotencyKey);
    const size = Buffer.byteLength(content, "utf8");
    if (size > this.options.maxFileBytes) {
      throw new ApiError(
        413,
        "payload_too_large",
        `content is ${size} bytes; the limit is ${this.options.maxFileBytes}`,
      );
    }
    const file: FileRecord = {
      file_id: key === undefined ? randomBytes(16).toString("hex") : this.idForKey(owner, key),
      owner,
      filename,
      content,
      size,
      created_at: new Date().toISOString(),
    };
    const stored = await this.store.putFileIfAbsent(file, this.quota);
    if ("quotaExceeded" in stored) {
      const { files, bytes } = stored.quotaExceeded;
      const { maxFiles, maxBytes } = this.quota;
      throw new ApiError(
        413,
        "quota_exceeded",
        `you hold ${files} files and ${bytes} bytes; a user may hold at most ${maxFiles} files and ${maxBytes} bytes: delete some first`,
      );
    }
    return stored;
  }

  list(owner: string): Promise<FileSummary[]> {
    return this.store.listFiles(owner);
  }

  async read(owner: string, fileId: string): Promise<FileRecord> {
    const file = FILE_ID.test(fileId) ? await this.store.getFile(owner, fileId) : null;
    if (!file) throw notFound("file");
    return file;
  }

  async remove(owner: string, fileId: string): Promise<void> {
    const deleted = FILE_ID.test(fileId) && (await this.store.deleteFile(owner, fileId));
    if (!deleted) throw notFound("file");
  }

  /** Same user and key, same id, on every instance and after every restart. */
  private idForKey(owner: string, key: string): string {
    return createHmac("sha256", this.options.idSecret).update(`${owner}\n${key}`).digest("hex").slice(0, 32);
  }
}

/** What the API shows of a stored file (the owner is implied by the credentials). */
export function publicFile(file: FileRecord): Omit<FileRecord, "owner"> {
  const { owner: _owner, ...rest } = file;
  return rest;
}

export function fileUrl(fileId: string): string {
  return `/api/files/${fileId}`;
}
