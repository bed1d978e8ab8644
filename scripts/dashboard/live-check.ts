// The live view's running figures: the lab's own checker rules (scripts/workbench/checker.ts) run
// every half second on the live history, so that what the page counts is what `npm run lab`
// would count. One difference, because a live run has no end: the read-back of each user is
// its latest file listing (an acknowledged upload missing from a listing that began after it
// is a write lost), where the lab reads every file back after the run.

import { Anomaly, revocationsLost, sessionsBroken, sessionStateLost, writesLost } from "../workbench/checker";
import { Operation } from "../workbench/history";

export type Rule = "sessions_broken" | "session_state_lost" | "writes_lost" | "revived";
export const RULES: Rule[] = ["sessions_broken", "session_state_lost", "writes_lost", "revived"];

export interface Found {
  rule: Rule;
  anomaly: Anomaly;
}

/**
 * The history as the read-back rule wants it: a read-back for each upload acknowledged before
 * its user's latest successful listing began (found there or not), and the uploads since then
 * left out until a listing has had the chance to show them.
 */
export function withReadBacks(operations: Operation[]): Operation[] {
  const latest = new Map<number, Operation>();
  for (const op of operations) {
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
  private readonly seen = new Set<string>();

  /** Runs the rules on `operations` (sorted by start); returns the anomalies not seen before. */
  run(operations: Operation[]): Found[] {
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
        if (this.seen.has(key)) continue;
        this.seen.add(key);
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
    return fresh.sort((a, b) => a.anomaly.time_ms - b.anomaly.time_ms);
  }
}
