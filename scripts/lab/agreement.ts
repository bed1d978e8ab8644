// The agreement rule: does a measured cell read as the expected matrix says? A cell marked †
// may read survived or degraded (whether a fault that keeps state also shows errors depends on
// how long the restart took against the 1 s deadline): such a swap is a timing note, not a
// disagreement (docs/how-the-lab-works.md, "The expected matrix and the agreement rule"). What the
// reports say about it is in notes.ts.

import { History } from "../workbench/history";
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
    note: `expected ${expected.verdict}${expected.dagger ? (expected.verdict === "survived" ? " (or degraded)" : " (or survived)") : ""}, got ${got}${got === "degraded" ? `: ${failedOperationsText(cell)}` : ""}`,
  };
}

/**
 * When the operations that failed after their retries came, against the fault's own times: an
 * operation that ended before the fault began came before it, one that started after it healed
 * came after it, and any other overlapped it. Errors before a fault are the machine's or the
 * lab's, not the fault's: a note must never blame the fault for them.
 */
export function failuresAgainstFault(history: History): { before: number; during: number; after: number } {
  const counts = { before: 0, during: 0, after: 0 };
  const fault = history.fault;
  for (const op of history.operations) {
    if (!op.workload || op.outcome !== "error") continue;
    if (fault && op.end < fault.began_ms) counts.before += 1;
    else if (fault && fault.ended_ms !== null && op.start > fault.ended_ms) counts.after += 1;
    else if (fault) counts.during += 1;
  }
  return counts;
}

/**
 * "3 operations failed after their retries: 1 before the fault, 2 during it (the fault lasted
 * from 1204 ms to 2388 ms)", or "8 operations failed after their retries, all during the fault (…)".
 */
export function failedOperationsText(cell: Pick<CellResult, "errors" | "history">): string {
  const errors = cell.errors ?? 0;
  const failed =
    errors === 1 ? "1 operation failed after its retries" : `${errors} operations failed after their retries`;
  if (!cell.history) return failed; // no history: the cell did not run
  const fault = cell.history.fault;
  if (!fault) return `${failed}, in a scenario without a fault`;
  const span = `the fault lasted from ${Math.round(fault.began_ms)} ms to ${fault.ended_ms === null ? "the end" : `${Math.round(fault.ended_ms)} ms`}`;
  const counts = failuresAgainstFault(cell.history);
  const phases = (["before", "during", "after"] as const).filter((phase) => counts[phase] > 0);
  if (phases.length === 0) return failed;
  if (phases.length === 1) return `${failed}, ${errors === 1 ? "" : "all "}${phases[0]} the fault (${span})`;
  const parts = phases.map((phase, i) => `${counts[phase]} ${phase} ${i === 0 ? "the fault" : "it"}`);
  return `${failed}: ${parts.slice(0, -1).join(", ")} and ${parts[parts.length - 1]} (${span})`;
}
