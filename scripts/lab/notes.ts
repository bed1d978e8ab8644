// The notes of a cell, in one list: what a report says beside a verdict (a disagreement, a cell
// that agreed only on its rerun, a † timing swap, a balancer scenario where some user saw one
// instance only, a skipped cell). The terminal, reports/survival.md and reports/survival.html all
// render this one list, so that they say the same thing in the same words
// (docs/how-the-lab-works.md, "Reading the reports").

import { Anomaly } from "../workbench/checker";
import { CellResult } from "./cell";
import { agreement, failedOperationsText } from "./agreement";
import { SETUPS } from "./scenarios";

/** disagrees: `!`; rerun: `r`; timing: `†`; one-instance and skipped: a note only. */
export type NoteKind = "disagrees" | "rerun" | "timing" | "one-instance" | "skipped";

export interface Note {
  kind: NoteKind;
  /** The note in plain words, without the cell's name (each report names the cell its own way). */
  text: string;
}

/** "1 cell", "2 cells". */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** "; load average 3.1, the lab's event-loop delay 12 ms, 0.2 cores idle, a /health round trip 4.7 ms" for a cell that measured it. */
export function loadText(cell: { load?: CellResult["load"] }): string {
  if (!cell.load) return "";
  const { load_average, event_loop_delay_ms, idle_cores, reference_ms } = cell.load;
  return `; load average ${load_average}, the lab's event-loop delay ${event_loop_delay_ms} ms${idle_cores === undefined ? "" : `, ${idle_cores} cores idle`}${reference_ms === undefined ? "" : `, a /health round trip ${reference_ms} ms`}`;
}

/** One anomaly in one plain sentence, without the cell's name: "at 352 ms, user 2's session on stateful-1 was answered 401; expected …". */
export function anomalyText(anomaly: Anomaly): string {
  const answer = anomaly.status === null ? "got no answer" : `was answered ${anomaly.status}`;
  return `at ${anomaly.time_ms} ms, user ${anomaly.user}'s ${anomaly.operation}${anomaly.instance ? ` on ${anomaly.instance}` : ""} ${answer}; expected ${anomaly.expected}`;
}

/** The first anomaly of a failed cell in one plain sentence: the terminal, the Markdown and the HTML say the same. */
export function anomalySentence(cell: CellResult): string | undefined {
  return cell.first_anomaly ? `${cell.design} × ${cell.scenario}: ${anomalyText(cell.first_anomaly)}.` : undefined;
}

/** A † cell that read the other of its two verdicts: nothing was lost, but users saw errors (or none) against the odds. */
function timingNote(cell: CellResult): string {
  return cell.verdict === "degraded"
    ? `timing note: degraded where survived is expected (†): ${failedOperationsText(cell)}${loadText(cell)}`
    : `timing note: survived where degraded is expected (†): every operation succeeded within its retries, the fault's gap included${loadText(cell)}`;
}

/** What the first run of a rerun cell read, why, and on what load. */
function firstRunText(cell: CellResult): string {
  const first = cell.first_run;
  if (!first) return "";
  const anomaly = first.first_anomaly ? ` (${anomalyText(first.first_anomaly)})` : "";
  return `the first run ${first.crashed ? "could not run" : `read ${first.verdict}`}${anomaly}: ${first.note}${loadText(first)}`;
}

/** Every note of one cell, in the order the reports print them. */
export function cellNotes(cell: CellResult): Note[] {
  const notes: Note[] = [];
  const result = agreement(cell);
  const first = firstRunText(cell);
  if (!result.agrees && cell.crashed) {
    // Not a verdict the design earned: the lab could not run the cell (the reports print it as NOT RUN).
    const again = first ? ` On its first run too (${first}).` : "";
    notes.push({ kind: "disagrees", text: `${cell.reason}${loadText(cell)}.${again} The lab exits 2.` });
    return notes;
  }
  if (!result.agrees) {
    const anomaly = cell.first_anomaly ? `; first anomaly: ${anomalyText(cell.first_anomaly)}` : "";
    const again = first ? ` It disagreed on its rerun too (${first}).` : "";
    notes.push({
      kind: "disagrees",
      text: `${result.note}${anomaly}${loadText(cell)}.${again} Either a bug in the lab or a finding worth a paragraph in the docs.`,
    });
    return notes;
  }
  if (first) notes.push({ kind: "rerun", text: `agreed on a rerun (${cell.verdict}); ${first}` });
  if (result.swap) notes.push({ kind: "timing", text: timingNote(cell) });
  if (cell.verdict === "skipped")
    notes.push({ kind: "skipped", text: `skipped: ${cell.reason ?? "could not run here"}` });
  if (
    cell.verdict !== "n/a" &&
    cell.verdict !== "skipped" &&
    cell.instances_seen === 1 &&
    SETUPS[cell.scenario].instances > 1
  ) {
    const why =
      SETUPS[cell.scenario].balancer === "sticky"
        ? " (expected with sticky sessions: users pinned to a surviving instance never move)"
        : "";
    notes.push({
      kind: "one-instance",
      text: `some user was served by one instance only, so this cell proves nothing about that user${why}`,
    });
  }
  return notes;
}

/** The marks of a matrix cell (several runs with --repeat): what `!`, `†` and `r` stand for, read off the notes. */
export function matrixMarks(runs: CellResult[]): { disagrees: boolean; dagger: boolean; rerun: boolean } {
  const kinds = new Set(runs.flatMap((run) => cellNotes(run).map((note) => note.kind)));
  return { disagrees: kinds.has("disagrees"), dagger: kinds.has("timing"), rerun: kinds.has("rerun") };
}
