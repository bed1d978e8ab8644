// The checker: judges a history after the run, like Jepsen's checkers. It knows nothing of
// processes or designs' internals; it only reads what the users saw (docs/how-the-lab-works.md,
// "The figures of a cell" and "The verdicts"). As Maelstrom keeps one checker per property,
// each rule below is one function that opens with its definition; check() only composes them.
// The verdict: failed if any rule found an anomaly; degraded if nothing was lost but some
// operations failed after their retries; survived otherwise.

import { History, Operation } from "./history";

/** A cell's verdict: the checker's three, and the two for a cell that did not run (not applicable, or skipped). */
export type Verdict = "survived" | "degraded" | "failed" | "n/a" | "skipped";

/** The figure an anomaly counts toward: one per rule below. */
export type AnomalyFigure =
  "sessions_broken" | "session_state_lost" | "writes_lost" | "duplicate_writes" | "revocations_lost";

export interface Anomaly {
  time_ms: number;
  user: number;
  operation: string;
  instance: string | null;
  status: number | null;
  expected: string;
  /** Set by check(): which rule found it. */
  figure?: AnomalyFigure;
  /** A lost write or lost session state: the acknowledged upload it is about, so a report can mark it on the user's lane. */
  upload?: { filename: string; acknowledged_ms: number };
}

export interface Figures {
  ops: number;
  ok: number;
  errors: number;
  retries: number;
  sessions_broken: number;
  session_state_lost: number;
  writes_lost: number;
  duplicate_writes: number;
  revocations_lost: number;
  availability: number;
  recovery_ms: number;
  p99_ms: number;
  max_failed_attempt_ms: number;
  /** Failed attempts that were not a 503 store_unavailable or database_unavailable (no answer, another status, or another code). */
  failed_attempts_not_503: number;
  abandoned_attempts: number;
  /** The count of each workload operation: register, login, upload, session, list, logout. */
  ops_by_operation: Record<string, number>;
  /** Uploads answered 2xx: what writes_lost is out of. */
  acknowledged_uploads: number;
  instances_seen: number;
  first_anomaly: Anomaly | null;
  /** The slowest failed attempt, for a store-outage cell that was not answered promptly. */
  slowest_failed_attempt: {
    user: number;
    operation: string;
    start_ms: number;
    duration_ms: number;
    answer: string;
  } | null;
}

export interface Judgement extends Figures {
  verdict: Extract<Verdict, "survived" | "degraded" | "failed">;
  /** Every anomaly any rule found, earliest first (first_anomaly is the first of them when the cell failed). */
  anomalies: Anomaly[];
}

function anomaly(operation: Operation, expected: string): Anomaly {
  return {
    time_ms: Math.round(operation.end),
    user: operation.user,
    // "user 0's spare logout": the second login the lab logs out to probe later, not the user's own session.
    operation: operation.spare && operation.name !== "probe" ? `spare ${operation.name}` : operation.name,
    instance: operation.servedBy ?? null,
    status: operation.status ?? null,
    expected,
  };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// ---------------------------------------------------------------------------------------------
// The rules: one function per figure, each returning the anomalies it found (one per count).

/** What a report needs to mark an acknowledged upload that was later lost: its name, and when it was acknowledged. */
function acknowledgement(upload: Operation): NonNullable<Anomaly["upload"]> {
  return { filename: upload.filename ?? String(upload.fileId), acknowledged_ms: Math.round(upload.end) };
}

/** Acknowledged uploads: the workload's uploads that were answered 2xx with a file id. */
function acknowledgedUploads(workload: Operation[]): Operation[] {
  return workload.filter((op) => op.name === "upload" && op.outcome === "ok" && op.fileId);
}

/** sessions_broken: a 401 after a successful login, on anything but a login, the user's session read back included (the probe aside: it is not workload). */
export function sessionsBroken(workload: Operation[]): Anomaly[] {
  return workload
    .filter((op) => op.status === 401 && op.name !== "login" && op.name !== "register" && op.epoch > 0)
    .map((op) => anomaly(op, "the session (or credentials) the user logged in with to be accepted"));
}

/** session_state_lost: an acknowledged upload missing from a later session view of the same session, the one read back included (counted once per upload). */
export function sessionStateLost(workload: Operation[]): Anomaly[] {
  const acknowledged = acknowledgedUploads(workload);
  const lost = new Map<string, Anomaly>();
  const views = workload.filter(
    (op) => (op.name === "session" || op.name === "readback-session") && op.outcome === "ok",
  );
  for (const view of views) {
    const listed = new Set(view.filesUploaded ?? []);
    for (const upload of acknowledged) {
      if (upload.user !== view.user || upload.epoch !== view.epoch || upload.end > view.start) continue;
      const key = `${upload.user}:${upload.fileId}`;
      if (!listed.has(upload.fileId as string) && !lost.has(key)) {
        lost.set(key, {
          ...anomaly(
            view,
            `the session view to list upload ${upload.filename} (acknowledged at ${Math.round(upload.end)} ms)`,
          ),
          upload: acknowledgement(upload),
        });
      }
    }
  }
  return [...lost.values()];
}

/** writes_lost: an acknowledged upload not readable at the read-back. */
export function writesLost(operations: Operation[], fault?: History["fault"]): Anomaly[] {
  const readable = new Set(
    operations.filter((op) => op.name === "readback" && op.outcome === "ok").map((op) => `${op.user}:${op.fileId}`),
  );
  return acknowledgedUploads(operations.filter((op) => op.workload))
    .filter((upload) => !readable.has(`${upload.user}:${upload.fileId}`))
    .map((upload) => {
      // The read that failed, or else the read-back login that was refused.
      const read = operations.find(
        (op) => op.user === upload.user && op.name === "readback" && op.fileId === upload.fileId,
      );
      const login = operations.find((op) => op.user === upload.user && op.name === "readback-login");
      // Replicated Redis: which node acknowledged it, and whether that was the primary the fault struck.
      const port = upload.storeNode?.split(":").pop();
      const struck = port !== undefined && fault?.target.role === "redis-primary" && String(fault.target.port) === port;
      const by = port ? ` by ${struck ? "the old primary" : "the Redis node"} on port ${port}` : "";
      return {
        ...anomaly(
          read ?? login ?? upload,
          `upload ${upload.filename} (acknowledged at ${Math.round(upload.end)} ms${by}) to be readable at the read-back`,
        ),
        upload: acknowledgement(upload),
      };
    });
}

/** duplicate_writes: a file name twice in a user's final list. */
export function duplicateWrites(operations: Operation[]): Anomaly[] {
  const found: Anomaly[] = [];
  for (const list of operations.filter((op) => op.name === "readback-list" && op.outcome === "ok")) {
    const seen = new Set<string>();
    for (const name of list.filenames ?? []) {
      if (seen.has(name)) found.push(anomaly(list, `one file named ${name}`));
      seen.add(name);
    }
  }
  return found;
}

/** revocations_lost (shown as `revived`): the logged-out spare login (a session or a token) accepted. */
export function revocationsLost(operations: Operation[]): Anomaly[] {
  return operations
    .filter((op) => op.name === "probe" && op.outcome === "ok")
    .map((probe) => anomaly(probe, "the logged-out spare login to be refused (401)"));
}

// ---------------------------------------------------------------------------------------------
// What the users saw of availability: not rules, the figures beside the verdict.

type Service = Omit<
  Figures,
  "sessions_broken" | "session_state_lost" | "writes_lost" | "duplicate_writes" | "revocations_lost" | "first_anomaly"
>;

/** ops, errors, retries, availability (first-try successes / ops), recovery (the longest gap without a success), latency and the failed attempts. */
function service(workload: Operation[]): Service {
  const ok = workload.filter((op) => op.outcome === "ok");
  const firstTry = ok.filter((op) => op.attempts.length === 1).length;
  const successes = ok.map((op) => op.end).sort((a, b) => a - b);
  const begin = workload.length ? Math.min(...workload.map((op) => op.start)) : 0;
  const finish = workload.length ? Math.max(...workload.map((op) => op.end)) : 0;
  let recovery = 0;
  let previous = begin;
  for (const end of [...successes, finish]) {
    recovery = Math.max(recovery, end - previous);
    previous = Math.max(previous, end);
  }
  const failed = (attempt: Operation["attempts"][number]) =>
    attempt.status === undefined || attempt.status < 200 || attempt.status >= 300;
  const failedAttempts = workload.flatMap((op) => op.attempts.filter(failed));
  let slowest: Figures["slowest_failed_attempt"] = null;
  for (const op of workload) {
    for (const attempt of op.attempts) {
      if (!failed(attempt)) continue;
      const duration = Math.round(attempt.end - attempt.start);
      if (!slowest || duration > slowest.duration_ms) {
        slowest = {
          user: op.user,
          operation: op.name,
          start_ms: Math.round(attempt.start),
          duration_ms: duration,
          answer: attempt.status ? String(attempt.status) : (attempt.error ?? "none"),
        };
      }
    }
  }
  const perUser = new Map<number, Set<string>>();
  for (const op of workload) {
    if (!op.servedBy) continue;
    if (!perUser.has(op.user)) perUser.set(op.user, new Set());
    perUser.get(op.user)?.add(op.servedBy);
  }
  return {
    ops: workload.length,
    ok: ok.length,
    errors: workload.filter((op) => op.outcome === "error").length,
    retries: workload.reduce((sum, op) => sum + op.attempts.length - 1, 0),
    availability: workload.length ? Math.round((firstTry / workload.length) * 10000) / 10000 : 1,
    recovery_ms: Math.round(recovery),
    p99_ms: Math.round(
      percentile(
        workload.map((op) => op.end - op.start),
        99,
      ),
    ),
    max_failed_attempt_ms: Math.round(Math.max(0, ...failedAttempts.map((attempt) => attempt.end - attempt.start))),
    failed_attempts_not_503: failedAttempts.filter(
      (attempt) => attempt.status !== 503 || !STORE_CODES.includes(attempt.code ?? ""),
    ).length,
    abandoned_attempts: failedAttempts.filter((attempt) => attempt.error === "abandoned").length,
    ops_by_operation: Object.fromEntries(
      ["register", "login", "upload", "session", "list", "logout"].map((name) => [
        name,
        workload.filter((op) => op.name === name).length,
      ]),
    ),
    acknowledged_uploads: acknowledgedUploads(workload).length,
    instances_seen: perUser.size ? Math.min(...[...perUser.values()].map((set) => set.size)) : 0,
    slowest_failed_attempt: slowest,
  };
}

/** The two honest answers of a server whose store is away: Redis (store_unavailable) or PostgreSQL (database_unavailable). */
const STORE_CODES = ["store_unavailable", "database_unavailable"];

/** The first anomaly in the shape the JSON has always given it: without the figure and the upload that `anomalies` add. */
function firstAnomaly([first]: Anomaly[]): Anomaly | null {
  if (!first) return null;
  const { time_ms, user, operation, instance, status, expected } = first;
  return { time_ms, user, operation, instance, status, expected };
}

/** Judges a history: every rule, the figures, every anomaly, and the verdict with the first anomaly of a failed cell. */
export function check(history: History): Judgement {
  const operations = [...history.operations].sort((a, b) => a.start - b.start);
  const workload = operations.filter((op) => op.workload);
  // The users' sessions as they were, and as the store still has them at the read-back.
  const sessionReads = operations.filter((op) => op.workload || op.name === "readback-session");
  const rules = {
    sessions_broken: sessionsBroken(sessionReads),
    session_state_lost: sessionStateLost(sessionReads),
    writes_lost: writesLost(operations, history.fault),
    duplicate_writes: duplicateWrites(operations),
    revocations_lost: revocationsLost(operations),
  };
  const figures = service(workload);
  // Earliest first; a stable sort keeps the rules' own order among anomalies of the same millisecond.
  const anomalies = (Object.entries(rules) as Array<[AnomalyFigure, Anomaly[]]>)
    .flatMap(([figure, found]) => found.map((each) => ({ ...each, figure })))
    .sort((a, b) => a.time_ms - b.time_ms);
  const verdict = anomalies.length > 0 ? "failed" : figures.errors > 0 ? "degraded" : "survived";
  return {
    verdict,
    ...figures,
    sessions_broken: rules.sessions_broken.length,
    session_state_lost: rules.session_state_lost.length,
    writes_lost: rules.writes_lost.length,
    duplicate_writes: rules.duplicate_writes.length,
    revocations_lost: rules.revocations_lost.length,
    first_anomaly: verdict === "failed" ? firstAnomaly(anomalies) : null,
    anomalies,
  };
}
