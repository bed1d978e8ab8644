// The history of a scenario run, like Jepsen's: every operation a virtual user made, with
// its start and end, outcome, status, attempts and the instance that answered. The workload
// writes it, the checker judges it, the report draws it (docs/how-the-lab-works.md, "The
// workload").

import type { Fault } from "./nemesis";

/** A time or a duration on the run's clock as people read it: "2,693 ms". */
export function formatMs(value: number): string {
  return `${Math.round(value).toLocaleString("en-US")} ms`;
}

export type OperationName =
  | "register"
  | "login"
  | "upload"
  | "session"
  | "list"
  | "logout"
  | "delete" // the live view's users delete their oldest files (WorkloadOptions.keepFiles)
  | "probe" // the logged-out spare session or token, tried after the fault (up to three times)
  | "readback-session" // the user's own session, read on the read-back instance (replicated Redis)
  | "readback-login"
  | "readback"
  | "readback-list";

export interface Attempt {
  start: number; // ms since the run started
  end: number;
  status?: number; // absent when no answer came
  code?: string; // the JSON `error` code of the answer, if any
  error?: string; // network error code, or "abandoned" at the operation's deadline
  servedBy?: string;
  /** Replicated Redis: the node the server was connected to (X-Store-Node). */
  storeNode?: string;
}

export interface Operation {
  user: number;
  name: OperationName;
  start: number;
  end: number;
  /** ok: 2xx; refused: a 401 (the design forgot the user); error: any other failure, after retries. */
  outcome: "ok" | "refused" | "error";
  status?: number;
  code?: string; // the JSON `error` code of a refusal
  attempts: Attempt[];
  servedBy?: string;
  /** Replicated Redis: the Redis node that acknowledged it (the last attempt's X-Store-Node). */
  storeNode?: string;
  /** Which login of this user the operation belongs to (0 before the first). */
  epoch: number;
  /** upload and readback: the idempotency key, the file id and the file name. */
  key?: string;
  fileId?: string;
  filename?: string;
  /** session: the file ids the session view listed. */
  filesUploaded?: string[];
  /** list and readback-list: the file names listed. */
  filenames?: string[];
  /** Part of the workload (counted in ops), or the read-back and the probe (not counted). */
  workload: boolean;
  /** The spare login's login and logout, which the probe checks later. */
  spare?: boolean;
}

export interface History {
  design: string;
  scenario: string;
  users: number;
  operations: Operation[];
  /** The fault, as the nemesis recorded it (when it began and healed, what it struck, kept and lost); absent without one. */
  fault?: Fault;
  durationMs: number;
}
