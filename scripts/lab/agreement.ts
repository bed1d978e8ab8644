// The agreement rule: does a measured cell read as the expected matrix says? A cell marked †
// may read survived or degraded (whether a fault that keeps state also shows errors depends on
// how long the restart took against the 1 s deadline): such a swap is a timing note, not a
// disagreement (docs/how-the-lab-works.md, "The expected matrix and the agreement rule"). What the
// reports say about it is in notes.ts.

import { CellResult } from "./cell";
import { expectation, isDaggerSwap } from "./scenarios";

export interface Agreement {
  agrees: boolean;
  /** Why it disagrees. */
  note?: string;
  /** A † cell that read the other of its two verdicts: it agrees, and the reports add a timing note. */
  swap?: boolean;
}

/** Whether a cell agrees with the expected matrix, and if not, why (the reason a rerun is for). */
export function agreement(cell: CellResult): Agreement {
  const expected = expectation(cell.design, cell.scenario);
  const got = cell.verdict;
  if (got === "skipped" && cell.crashed)
    return { agrees: false, note: cell.reason ?? "the lab could not run this cell" };
  if (got === "skipped") return { agrees: true };
  if (expected.verdict === "degraded" && !expected.dagger) {
    if (got !== "degraded") return { agrees: false, note: `expected degraded, got ${got}` };
    const slow = (cell.max_failed_attempt_ms ?? 0) >= 500;
    const other = cell.failed_attempts_not_503 ?? 0;
    const abandoned = cell.abandoned_attempts ?? 0;
    if (slow || other || abandoned) {
      // Name only the rules that were broken: a reader should not have to work out which.
      const broken = [
        abandoned ? `${abandoned} attempt(s) got no answer before the clients' 1 s deadline` : "",
        other ? `${other} failed attempt(s) answered something other than 503 store_unavailable` : "",
        slow ? `the slowest failed attempt took ${cell.max_failed_attempt_ms} ms (limit 500)` : "",
      ].filter(Boolean);
      const slowest = cell.slowest_failed_attempt;
      return {
        agrees: false,
        note: `degraded, but the outage was not answered with prompt 503s: ${broken.join("; ")}${slowest ? `; slowest: user ${slowest.user}'s ${slowest.operation} at ${slowest.start_ms} ms, ${slowest.duration_ms} ms, answered ${slowest.answer}` : ""}. On a busy machine, run this cell again on its own`,
      };
    }
    return { agrees: true };
  }
  if (got === expected.verdict) return { agrees: true };
  if (isDaggerSwap(expected, got)) return { agrees: true, swap: true };
  return {
    agrees: false,
    note: `expected ${expected.verdict}${expected.dagger ? (expected.verdict === "survived" ? " (or degraded)" : " (or survived)") : ""}, got ${got}`,
  };
}
