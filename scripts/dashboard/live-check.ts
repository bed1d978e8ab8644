// The live view's running figures: the lab's own checker rules (scripts/workbench/checker.ts) run
// on the live history as it grows, so that what the page counts is what `npm run lab` would
// count. Two differences, because a live run has no end: the read-back of each user is its
// latest file listing (an acknowledged upload missing from a listing that began after it is a
// write lost; one the user deleted before that listing is not), and the rules re-check only a
// recent window of the history (HISTORY_WINDOW_MS), while the counts keep everything found.

import { Anomaly, revocationsLost, sessionsBroken, sessionStateLost, writesLost } from "../workbench/checker";
import { Operation } from "../workbench/history";

export type Rule = "sessions_broken" | "session_state_lost" | "writes_lost" | "revived";
export const RULES: Rule[] = ["sessions_broken", "session_state_lost", "writes_lost", "revived"];

export interface Found {
  rule: Rule;
  anomaly: Anomaly;
}

/**
 * What the rules re-check: the operations that ended in the last 30 s, at most 1,200 of them. A
 * listing follows each upload within a loop (about 1.5 s at the classroom's pace), so every
 * anomaly is found while its operations are still inside; the cost of a check then stays the
 * same for a whole class, where re-checking everything grew with every minute.
 */
export const HISTORY_WINDOW_MS = 30_000;
export const MAX_WINDOW_OPERATIONS = 1200;

/** How many of `operations` (in the order they ended) fall out of the window at `now`: drop that many from the front. */
export function outsideWindow(operations: Operation[], now: number): number {
  const cutoff = now - HISTORY_WINDOW_MS;
  let count = Math.max(0, operations.length - MAX_WINDOW_OPERATIONS);
  while (count < operations.length && operations[count].end < cutoff) count += 1;
  return count;
}

/**
 * The history as the read-back rule wants it: a read-back for each upload acknowledged before
 * its user's latest successful listing began (found there or not), and the uploads since then
 * left out until a listing has had the chance to show them. An upload that its user deleted
 * before that listing began is left out too: it is gone because the user asked, not lost.
 */
export function withReadBacks(operations: Operation[]): Operation[] {
  const latest = new Map<number, Operation>();
  // A delete that was refused (401) deleted nothing; any other may have (a 5xx can come after the work).
  const deletedAt = new Map<string, number>();
  for (const op of operations) {
    if (op.name === "delete" && op.outcome !== "refused" && op.fileId)
      deletedAt.set(
        `${op.user}:${op.fileId}`,
        Math.min(op.start, deletedAt.get(`${op.user}:${op.fileId}`) ?? op.start),
      );
    if (op.name !== "list" || op.outcome !== "ok") continue;
    const previous = latest.get(op.user);
    if (!previous || op.start > previous.start) latest.set(op.user, op);
  }
  const judged: Operation[] = [];
  const readBacks: Operation[] = [];
  for (const op of operations) {
    const listing = latest.get(op.user);
    const acknowledged = op.name === "upload" && op.outcome === "ok" && op.fileId;
    if (!acknowledged) {
      judged.push(op);
      continue;
    }
    if (!listing || op.end > listing.start) continue; // not yet seen by a listing
    if ((deletedAt.get(`${op.user}:${op.fileId}`) ?? Infinity) < listing.start) continue; // deleted, not lost
    judged.push(op);
    const listed = (listing.filenames ?? []).includes(op.filename as string);
    readBacks.push({
      ...listing,
      name: "readback",
      outcome: listed ? "ok" : "refused",
      status: listed ? 200 : 404,
      workload: false,
      fileId: op.fileId,
      key: op.key,
      filename: op.filename,
      filenames: undefined,
    });
  }
  return [...judged, ...readBacks];
}

/** Counts each anomaly once, however many times the rules find it again. */
export class LiveCheck {
  readonly counts: Record<Rule, number> = { sessions_broken: 0, session_state_lost: 0, writes_lost: 0, revived: 0 };
  readonly perUser = new Map<number, Record<Rule, number> & { lastAt: number; lastRule?: Rule }>();
  /** Each anomaly found, with when it was last found: one not found for a whole window cannot be found again. */
  private readonly seen = new Map<string, number>();

  /** How many anomalies it remembers, to tell them from new ones (bounded by the window). */
  get remembered(): number {
    return this.seen.size;
  }

  /** Runs the rules on `operations` (sorted by start; the window); returns the anomalies not seen before. */
  run(operations: Operation[]): Found[] {
    const now = operations.reduce((latest, op) => Math.max(latest, op.end), 0);
    const workload = operations.filter((op) => op.workload);
    const found: Record<Rule, Anomaly[]> = {
      sessions_broken: sessionsBroken(workload),
      session_state_lost: sessionStateLost(workload),
      writes_lost: writesLost(withReadBacks(operations)),
      revived: revocationsLost(operations),
    };
    const fresh: Found[] = [];
    for (const rule of RULES) {
      for (const anomaly of found[rule]) {
        // A refusal or a probe is one event; a lost upload is one loss, however often it is seen missing.
        const once = rule === "sessions_broken" || rule === "revived" ? `${anomaly.time_ms}` : "";
        const key = `${rule}|${anomaly.user}|${anomaly.expected}|${once}`;
        const known = this.seen.has(key);
        this.seen.set(key, now);
        if (known) continue;
        this.counts[rule] += 1;
        const row = this.perUser.get(anomaly.user) ?? {
          sessions_broken: 0,
          session_state_lost: 0,
          writes_lost: 0,
          revived: 0,
          lastAt: 0,
        };
        row[rule] += 1;
        if (anomaly.time_ms >= row.lastAt) Object.assign(row, { lastAt: anomaly.time_ms, lastRule: rule });
        this.perUser.set(anomaly.user, row);
        fresh.push({ rule, anomaly });
      }
    }
    for (const [key, at] of this.seen) if (at < now - HISTORY_WINDOW_MS) this.seen.delete(key);
    return fresh.sort((a, b) => a.anomaly.time_ms - b.anomaly.time_ms);
  }
}
