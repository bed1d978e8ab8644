// The files API (upload, list, read, delete), mounted by every design behind its own way of
// proving who the user is. The `authenticate` middleware is where the designs differ; from
// here on, all that a route knows is res.locals.username.

import { Request, RequestHandler, Response, Router } from "express";
import { fileUrl, FileService, publicFile } from "../domain/files";

export interface FileRoutesOptions {
  files: FileService;
  /** Proves who the user is and sets res.locals.username, or passes a 401 to next(). */
  authenticate: RequestHandler;
  /** Called after a successful upload, a replay included: the stateful design lists it in the session. */
  afterUpload?: (req: Request, res: Response, fileId: string) => void | Promise<void>;
  /**
   * Called before every successful answer. Phase 2 saves the session here: a store error then
   * becomes a 503 instead of a 200 for a session that was never stored.
   */
  beforeAnswer?: (req: Request, res: Response) => Promise<void>;
}

export function fileRoutes({ files, authenticate, afterUpload, beforeAnswer }: FileRoutesOptions): Router {
  const router = Router();

  router.post("/api/upload", authenticate, async (req, res) => {
    const { created, file } = await files.upload(res.locals.username, req.body, req.get("Idempotency-Key"));
    await afterUpload?.(req, res, file.file_id);
    await beforeAnswer?.(req, res);
    res.status(created ? 201 : 200).json({ file_id: file.file_id, url: fileUrl(file.file_id) });
  });

  router.get("/api/files", authenticate, async (req, res) => {
    const list = await files.list(res.locals.username);
    await beforeAnswer?.(req, res);
    res.json({ files: list });
  });

  router.get("/api/files/:id", authenticate, async (req, res) => {
    const file = await files.read(res.locals.username, String(req.params.id));
    await beforeAnswer?.(req, res);
    res.json(publicFile(file));
  });

  router.delete("/api/files/:id", authenticate, async (req, res) => {
    await files.remove(res.locals.username, String(req.params.id));
    await beforeAnswer?.(req, res);
    res.json({ message: "file deleted" });
  });

  return router;
}
