// The report: the survival matrix as a terminal table, Markdown and JSON, with where the run
// disagrees with the expected matrix said in plain words (docs/how-the-lab-works.md, "Reading
// the reports"). The HTML timeline is in report-html.ts.

import { DESIGNS } from "../designs";
import { Headroom, MachineInfo } from "../processes/machine";
import { CellResult } from "./cell";
import { agreement } from "./agreement";
import { anomalySentence, cellNotes, matrixMarks, plural } from "./notes";
import { expectation, Scenario, SCENARIOS } from "./scenarios";

export interface RunInfo {
  date: string;
  machine: MachineInfo;
  node: string;
  redis: string | null;
  /** PostgreSQL's version, where phase 2 keeps its users and files. */
  postgres?: string | null;
  seed: number;
  options: Record<string, unknown>;
  wall_s: number;
  /** The machine's headroom before the run, which decided how many cells ran at once. */
  headroom?: Headroom;
}

/** The command that runs the same cells with the same seed. */
export function reproduce(info: RunInfo): string {
  const options = info.options as { design?: string; scenario?: string; lb?: string; vus?: number };
  const parts = ["npm run lab --", `--seed ${info.seed}`];
  if (options.design && options.design !== "all") parts.push(`--design ${options.design}`);
  if (options.scenario && options.scenario !== "all") parts.push(`--scenario ${options.scenario}`);
  if (options.lb && options.lb !== "builtin") parts.push(`--lb ${options.lb.split(" ")[0]}`);
  if (options.vus && options.vus !== 8) parts.push(`--vus ${options.vus}`);
  return parts.join(" ");
}

const FIGURES = [
  "ops",
  "ok",
  "errors",
  "retries",
  "sessions_broken",
  "session_state_lost",
  "writes_lost",
  "duplicate_writes",
  "revocations_lost",
  "availability",
  "recovery_ms",
  "p99_ms",
  "max_failed_attempt_ms",
  "failed_attempts_not_503",
  "abandoned_attempts",
  "ops_by_operation",
  "acknowledged_uploads",
  "instances_seen",
  "first_anomaly",
  "slowest_failed_attempt",
] as const;

/** How many anomalies of a cell the JSON keeps (the earliest): the figures count them all, the HTML lists them all. */
export const JSON_ANOMALIES = 20;

/** The machine's headroom before the run, and how many cells it let run at once (docs/how-the-lab-works.md, "A busy machine"). */
export function headroomSentence(headroom: Headroom, options: RunInfo["options"]): string {
  const asked = options.jobs_quiet ? ` (${options.jobs_quiet} on a quiet machine)` : "";
  return `Before the run: ${headroom.idle_cores} cores idle, load average ${headroom.load_average}, the lab's event-loop delay ${headroom.event_loop_delay_ms} ms, a fixed task got ${headroom.cpu_share} of a core (${headroom.reference_ms} ms); ${plural(Number(options.jobs), "cell")} at once${asked}.`;
}

/** The JSON object of `--json` and reports/survival.json: every cell, with every figure. */
export function toJson(info: RunInfo, cells: CellResult[]): object {
  return {
    date: info.date,
    machine: info.machine,
    node: info.node,
    redis: info.redis,
    postgres: info.postgres ?? null,
    seed: info.seed,
    options: info.options,
    wall_s: info.wall_s,
    ...(info.headroom ? { headroom: info.headroom } : {}),
    cells: cells.map((cell) => {
      const entry: Record<string, unknown> = { design: cell.design, scenario: cell.scenario, verdict: cell.verdict };
      if (cell.reason) entry.reason = cell.reason;
      const measured = cell.verdict !== "n/a" && cell.verdict !== "skipped";
      for (const figure of FIGURES) {
        const nullable = figure === "first_anomaly" || figure === "slowest_failed_attempt";
        const none = nullable
          ? null
          : figure === "ops_by_operation"
            ? { register: 0, login: 0, upload: 0, session: 0, list: 0, logout: 0 }
            : 0;
        entry[figure] = measured ? (cell[figure] ?? none) : none;
      }
      const expected = expectation(cell.design, cell.scenario);
      entry.expected = expected.verdict + (expected.dagger ? "†" : "");
      const { agrees, note } = agreement(cell);
      entry.agrees = agrees;
      const notes = cellNotes(cell);
      // `note`: why it disagrees, or its timing note; `notes`: every note the other reports print.
      const short = note ?? notes.find((each) => each.kind === "timing" || each.kind === "skipped")?.text;
      if (short) entry.note = short;
      if (notes.length) entry.notes = notes;
      if (measured) entry.anomalies = (cell.anomalies ?? []).slice(0, JSON_ANOMALIES);
      entry.duration_ms = cell.duration_ms;
      if (cell.load) entry.load = cell.load;
      if (cell.setup_retries !== undefined) entry.setup_retries = cell.setup_retries;
      if (cell.first_run) entry.first_run = cell.first_run;
      return entry;
    }),
  };
}

/** Cells grouped by design and scenario; with --repeat, several per pair. */
function byPair(cells: CellResult[]): Map<string, CellResult[]> {
  const pairs = new Map<string, CellResult[]>();
  for (const cell of cells) {
    const key = `${cell.design}|${cell.scenario}`;
    pairs.set(key, [...(pairs.get(key) ?? []), cell]);
  }
  return pairs;
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + " ".repeat(width - text.length);
}

/** The terminal's column names (at most 6 characters, so that 15 columns of 7 fit in 120), with the legend. */
const ABBREVIATIONS: Record<Scenario, string> = {
  baseline: "base",
  restart: "restrt",
  crash: "crash",
  "round-robin": "rr",
  "sticky-failover": "sticky",
  "rolling-deploy": "roll",
  concurrent: "concur",
  "store-restart": "s-rst",
  "store-restart-aof": "s-aof",
  "store-outage": "s-out",
  "store-failover": "s-fail",
  "store-freeze": "s-frz",
  "store-freeze-safe": "s-safe",
  "db-restart": "db-rst",
  "db-outage": "db-out",
};
const SYMBOLS: Record<string, string> = {
  survived: "ok",
  degraded: "deg",
  failed: "FAIL",
  "n/a": "-",
  skipped: "skip",
};

/**
 * The verdict matrix for a terminal, at most 120 columns: designs down, scenarios across by
 * short names, a legend under it. `!` marks a cell that disagrees, `†` a timing swap, `r` a
 * cell that agreed on its rerun.
 */
export function compactMatrix(cells: CellResult[]): string {
  const pairs = byPair(cells);
  const designs = DESIGNS.filter((design) => cells.some((cell) => cell.design === design));
  const scenarios = SCENARIOS.filter((scenario) => cells.some((cell) => cell.scenario === scenario));
  const lines = [(pad("", 15) + scenarios.map((scenario) => pad(ABBREVIATIONS[scenario], 7)).join("")).trimEnd()];
  for (const design of designs) {
    let line = pad(design, 15);
    for (const scenario of scenarios) {
      const runs = pairs.get(`${design}|${scenario}`) ?? [];
      const text = [...new Set(runs.map((run) => SYMBOLS[run.verdict]))].join("/");
      const marks = matrixMarks(runs);
      const mark = marks.disagrees ? "!" : `${marks.dagger ? "†" : ""}${marks.rerun ? "r" : ""}`;
      line += pad(text + mark, 7);
    }
    lines.push(line.trimEnd());
  }
  const used = scenarios
    .filter((scenario) => ABBREVIATIONS[scenario] !== scenario)
    .map((scenario) => `${ABBREVIATIONS[scenario]} ${scenario}`);
  lines.push(
    "",
    wrap(
      "ok survived, deg degraded, FAIL failed, - n/a, ! disagrees with the expected matrix, † a timing swap (see the notes), r agreed on a rerun.",
      120,
    ),
  );
  if (used.length) lines.push(wrap(`Columns: ${used.join(", ")}.`, 120));
  return lines.join("\n");
}

/** Breaks `text` into lines of at most `width` characters, at spaces; lines after the first start with `indent`. */
function wrap(text: string, width: number, indent = ""): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join("\n");
}

function percent(value: number | undefined): string {
  return `${Math.round((value ?? 0) * 1000) / 10}%`;
}

/** One row per measured cell: the figures behind each verdict (`short`: the terminal's column names, to fit 120 columns). */
export function figuresTable(cells: CellResult[], short = false): string {
  const header = [
    "design",
    "scenario",
    "verdict",
    "ops",
    "errors",
    "broken",
    "state lost",
    "writes lost",
    "dupes",
    "revived",
    short ? "avail" : "availability",
    "recovery",
  ];
  const rows = cells
    .filter((cell) => cell.verdict !== "n/a" && cell.verdict !== "skipped")
    .map((cell) => [
      cell.design,
      short ? ABBREVIATIONS[cell.scenario] : cell.scenario,
      cell.verdict,
      String(cell.ops),
      String(cell.errors),
      String(cell.sessions_broken),
      String(cell.session_state_lost),
      String(cell.writes_lost),
      String(cell.duplicate_writes),
      String(cell.revocations_lost),
      percent(cell.availability),
      `${cell.recovery_ms} ms`,
    ]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i].length)));
  return [header, ...rows]
    .map((row) =>
      row
        .map((value, i) => pad(value, widths[i] + (short ? 1 : 2)))
        .join("")
        .trimEnd(),
    )
    .join("\n");
}

/** Every cell's notes (notes.ts), one line each, named by the cell: `DISAGREES …` or `note      …`. */
export function noteLines(cells: CellResult[]): { agrees: boolean; lines: string[] } {
  const lines = cells.flatMap((cell) =>
    cellNotes(cell).map(
      (note) =>
        `${note.kind !== "disagrees" ? "note     " : cell.crashed ? "NOT RUN  " : "DISAGREES"} ${cell.design} × ${cell.scenario}: ${note.text}`,
    ),
  );
  return { agrees: cells.every((cell) => agreement(cell).agrees), lines };
}

/** The count of each workload operation per measured cell (worksheet 02 reads it). */
export function operationsTable(cells: CellResult[]): string {
  const names = ["register", "login", "upload", "session", "list", "logout"];
  const rows = cells
    .filter((cell) => cell.ops_by_operation)
    .map(
      (cell) =>
        `| ${cell.design} | ${cell.scenario} | ${names.map((name) => cell.ops_by_operation?.[name] ?? 0).join(" | ")} |`,
    );
  return [
    `| design | scenario | ${names.join(" | ")} |`,
    `|---|---|${names.map(() => "---:").join("|")}|`,
    ...rows,
  ].join("\n");
}

/** For every failed cell, its first anomaly in one plain sentence. */
export function anomalySentences(cells: CellResult[]): string[] {
  return cells
    .filter((cell) => cell.verdict === "failed")
    .map(anomalySentence)
    .filter((sentence): sentence is string => sentence !== undefined);
}

export function textReport(info: RunInfo, cells: CellResult[]): string {
  const { agrees, lines } = noteLines(cells);
  const sentences = anomalySentences(cells);
  return [
    wrap(
      `Survival matrix (${info.date}, ${plural(info.machine.cores, "core")}, Node ${info.node}, Redis ${info.redis ?? "not installed"}, PostgreSQL ${info.postgres ?? "not installed"}, balancer ${info.options.lb}, seed ${info.seed}, ${info.wall_s} s)`,
      120,
    ),
    "",
    compactMatrix(cells),
    "",
    ...(sentences.length
      ? [
          "Why each failed cell failed (its first anomaly):",
          ...sentences.map((sentence) => wrap(`- ${sentence}`, 120, "  ")),
          "",
        ]
      : []),
    figuresTable(cells, true),
    "",
    ...lines.map((line) => wrap(line, 120, " ".repeat(10))),
    agrees
      ? "The run agrees with the expected matrix (docs/how-the-lab-works.md)."
      : "The run DISAGREES with the expected matrix: see the lines above.",
  ].join("\n");
}

export function markdownReport(info: RunInfo, cells: CellResult[]): string {
  const sentences = anomalySentences(cells);
  const { agrees, lines } = noteLines(cells);
  const designs = DESIGNS.filter((design) => cells.some((cell) => cell.design === design));
  const scenarios = SCENARIOS.filter((scenario) => cells.some((cell) => cell.scenario === scenario));
  const pairs = byPair(cells);
  const matrix = [
    `| design | ${scenarios.join(" | ")} |`,
    `|---|${scenarios.map(() => "---").join("|")}|`,
    ...designs.map(
      (design) =>
        `| ${design} | ${scenarios
          .map((scenario) => {
            const runs = pairs.get(`${design}|${scenario}`) ?? [];
            const verdicts = [...new Set(runs.map((run) => run.verdict))].join("/");
            const marks = matrixMarks(runs);
            // Like the terminal: † a timing swap, r agreed on a rerun.
            if (marks.disagrees) return `**${verdicts}** (disagrees)`;
            return `${verdicts}${marks.dagger ? "†" : ""}${marks.rerun ? " r" : ""}`;
          })
          .join(" | ")} |`,
    ),
  ];
  return [
    "# Survival matrix",
    "",
    `Measured ${info.date} on ${info.machine.cores} cores (${info.machine.cpu}), ${info.machine.platform}/${info.machine.arch}, Node ${info.node}, Redis ${info.redis ?? "not installed"}, PostgreSQL ${info.postgres ?? "not installed"}; seed ${info.seed}; options ${JSON.stringify(info.options)}; ${info.wall_s} s. Reproduce with \`${reproduce(info)}\`.`,
    "",
    ...(info.headroom ? [headroomSentence(info.headroom, info.options), ""] : []),
    ...matrix,
    "",
    "```",
    figuresTable(cells),
    "```",
    "",
    ...(sentences.length
      ? ["Why each failed cell failed (its first anomaly):", "", ...sentences.map((sentence) => `- ${sentence}`), ""]
      : []),
    "Operations by kind (the workload's; `ops` is their sum):",
    "",
    operationsTable(cells),
    "",
    ...lines.map((line) => `- ${line}`),
    "",
    agrees
      ? "The run agrees with the expected matrix (docs/how-the-lab-works.md)."
      : "**The run disagrees with the expected matrix.**",
    "",
  ].join("\n");
}
