// The files API (upload, list, read, delete: docs/api-reference.md, "Files"), mounted by
// every design behind its own way of proving who the user is. The `authenticate` middleware
// is where the designs differ; from here on, all that a route knows is res.locals.userId, the
// user's immutable id, under which its files are kept (never the name: a name can be
// registered again after a store wipe, an id never comes back).

import { Request, RequestHandler, Response, Router } from "express";
import { fileUrl, FileService, publicFile } from "../domain/files";
import { uploadBody } from "./app-basics";

export interface FileRoutesOptions {
  files: FileService;
  /** Proves who the user is and sets res.locals.userId, or passes a 401 to next(). */
  authenticate: RequestHandler;
  /** Called after a successful upload, a replay included: the stateful design lists it in the session. */
  afterUpload?: (req: Request, res: Response, fileId: string) => void | Promise<void>;
  /**
   * Called before every successful answer. Phase 2 saves the session here: a store error then
   * becomes a 503 instead of a 200 for a session that was never stored.
   */
  beforeAnswer?: (req: Request, res: Response) => Promise<void>;
}

/** Waits for both; a failure of `check` (401, 503) wins over the work's own (a 404, say). */
async function alongside<T>(work: Promise<T>, check: Promise<void> | undefined): Promise<T> {
  const [result, checked] = await Promise.allSettled([work, check ?? Promise.resolve()]);
  if (checked.status === "rejected") throw checked.reason;
  if (result.status === "rejected") throw result.reason;
  return result.value;
}

export function fileRoutes({ files, authenticate, afterUpload, beforeAnswer }: FileRoutesOptions): Router {
  const router = Router();

  // The body is read only after authenticate: an unauthenticated client cannot make us read megabytes.
  router.post("/api/upload", authenticate, uploadBody(files.maxFileBytes), async (req, res) => {
    const { created, file } = await files.upload(res.locals.userId, req.body, req.get("Idempotency-Key"));
    await afterUpload?.(req, res, file.file_id);
    await beforeAnswer?.(req, res);
    res.status(created ? 201 : 200).json({ file_id: file.file_id, url: fileUrl(file.file_id) });
  });

  // Reads change nothing but the session (already updated by authenticate), so the read and
  // beforeAnswer (the session save, or jwt's deny-list check) go to the store together.
  router.get("/api/files", authenticate, async (req, res) => {
    res.json({ files: await alongside(files.list(res.locals.userId), beforeAnswer?.(req, res)) });
  });

  router.get("/api/files/:id", authenticate, async (req, res) => {
    res.json(
      publicFile(await alongside(files.read(res.locals.userId, String(req.params.id)), beforeAnswer?.(req, res))),
    );
  });

  router.delete("/api/files/:id", authenticate, async (req, res) => {
    await files.remove(res.locals.userId, String(req.params.id));
    await beforeAnswer?.(req, res);
    res.json({ message: "file deleted" });
  });

  return router;
}
