// reports/survival.html: the matrix, the same notes as the terminal, and per cell every anomaly
// and a timeline drawn as inline SVG (no CDN, no script, no network: it opens offline). Each row
// is a virtual user, each mark an operation: coloured by the instance that served it when it
// succeeded, orange when refused (a 401), red when it failed after its retries; a pink diamond is
// an acknowledged upload that was lost; the grey band is the fault. How to read it:
// docs/how-the-lab-works.md, "Reading the reports".

import { CellResult } from "./cell";
import { reproduce, RunInfo } from "./report";
import { DESIGNS } from "../designs";
import { agreement } from "./agreement";
import { anomalyText, cellNotes, matrixMarks, Note } from "./notes";
import { Anomaly } from "../workbench/checker";
import { formatMs, Operation } from "../workbench/history";
import { OPERATION_DEADLINE_MS } from "../workbench/http-client";
import { Fault, faultSentence } from "../workbench/nemesis";
import { expectation, SCENARIOS } from "./scenarios";

const INSTANCE_COLOURS = ["#2b6cb0", "#2f855a", "#6b46c1", "#2c7a7b", "#975a16"];
const REFUSED = "#dd6b20";
const ERROR = "#c53030";
const LOST_UPLOAD = "#d53f8c";
/** The probe's 401 is what should happen: drawn grey, so that it does not read as a refusal. */
const EXPECTED_REFUSAL = "#a0aec0";
const FAULT = "#4a5568";
const VERDICT_COLOURS: Record<string, string> = {
  survived: "#c6f6d5",
  degraded: "#fefcbf",
  failed: "#fed7d7",
  "n/a": "#edf2f7",
  skipped: "#edf2f7",
};
const MAX_MARKS = 1500;
/** At least 14 px, so that a row reads on a projector; each mark leaves 3 px between rows. */
const ROW_HEIGHT = 16;
const LEFT = 52;
const WIDTH = 900;
/** The figures' names, as the terminal's table heads them. */
const FIGURE_NAMES: Record<NonNullable<Anomaly["figure"]>, string> = {
  sessions_broken: "broken",
  session_state_lost: "state lost",
  writes_lost: "writes lost",
  duplicate_writes: "dupes",
  revocations_lost: "revived",
};

/** Safe in text and in double-quoted attributes, the only kind this page writes ("user 3's" stays as it is: it is in every anomaly). */
function escape(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** "2,693 ms": thousands separated, so that a student reads a time at a glance. */

function anchor(cell: CellResult, index: number): string {
  return `cell-${cell.design}-${cell.scenario}-${index}`;
}

/** "Fault from 318 ms to 2,693 ms: SIGKILL …", from the fault's fields, forwards. */
export function faultRange(fault: Fault, durationMs: number): string {
  const range =
    fault.ended_ms === null
      ? `from ${formatMs(fault.began_ms)}, still in effect at the end (${formatMs(durationMs)})`
      : `from ${formatMs(fault.began_ms)} to ${formatMs(fault.ended_ms)}`;
  return `Fault ${range}: ${faultSentence(fault)}.`;
}

/**
 * What a failed or refused operation's mark says on hover, first what happened
 * (`upload: no answer, abandoned at the 1 s deadline (1,002 ms)`, `upload: 503 store_unavailable
 * after 12 ms`, `session: 401 session_not_found`), then who, where and how many attempts.
 */
export function operationTitle(op: Operation): string {
  const name = op.spare && op.name !== "probe" ? `spare ${op.name}` : op.name;
  const took = op.end - op.start;
  const last = op.attempts[op.attempts.length - 1];
  const code = op.code ? ` ${op.code}` : "";
  let what: string;
  if (op.status === undefined)
    what =
      last?.error === "abandoned"
        ? `no answer, abandoned at the ${OPERATION_DEADLINE_MS / 1000} s deadline (${formatMs(took)})`
        : `no answer (${last?.error ?? "never sent"}) after ${formatMs(took)}`;
  else if (op.outcome === "refused") what = `${op.status}${code}`;
  else what = `${op.status}${code} after ${formatMs(took)}`;
  if (op.name === "probe" && op.outcome === "refused") what += ", as it should be: the logged-out spare login refused";
  const where = [
    `user ${op.user}`,
    op.servedBy ? `on ${op.servedBy}` : "",
    `at ${formatMs(op.start)}`,
    op.attempts.length > 1 ? `${op.attempts.length} attempts` : "",
  ].filter(Boolean);
  return `${name}: ${what}\n${where.join(", ")}`;
}

/** A diamond centred on (x, y): the mark of a lost upload, a shape no operation has. */
function diamond(x: number, y: number, size: number): string {
  return `M${x.toFixed(1)},${y - size}l${size},${size} ${-size},${size} ${-size},${-size}z`;
}

/** One line of the time axis per step, at least 80 px apart, labelled with thousands separators. */
function axis(duration: number, x: (ms: number) => number, top: number, bottom: number): string {
  const step = [500, 1000, 2000, 5000, 10000, 30000].find((each) => x(each) - x(0) >= 80) ?? 60000;
  const parts: string[] = [];
  for (let at = 0; at <= duration; at += step) {
    parts.push(
      `<line x1="${x(at).toFixed(1)}" x2="${x(at).toFixed(1)}" y1="${top - 2}" y2="${bottom}" stroke="#e2e8f0"/><text x="${x(at).toFixed(1)}" y="${bottom + 12}" font-size="10" text-anchor="middle" fill="#4a5568">${formatMs(at)}</text>`,
    );
  }
  return parts.join("");
}

function timeline(cell: CellResult): string {
  const history = cell.history;
  if (!history) return "";
  const operations = history.operations.slice(0, MAX_MARKS);
  const top = 24;
  const bottom = top + history.users * ROW_HEIGHT;
  const height = bottom + 18;
  const duration = Math.max(1, history.durationMs, ...operations.map((op) => op.end));
  // 36 px on the right: room for the last tick's label.
  const x = (at: number) => LEFT + (at / duration) * (WIDTH - LEFT - 36);
  const instances = [...new Set(operations.map((op) => op.servedBy).filter((id): id is string => Boolean(id)))].sort();
  const colourOf = (id?: string) =>
    INSTANCE_COLOURS[Math.max(0, instances.indexOf(id ?? "")) % INSTANCE_COLOURS.length];
  const parts: string[] = [axis(duration, x, top, bottom)];
  if (history.fault) {
    // At least 6 px wide and labelled: a 30 ms fault in a 10 s cell would otherwise be a hairline nobody sees.
    const start = x(history.fault.began_ms);
    const end = Math.max(start + 6, x(history.fault.ended_ms ?? history.durationMs));
    parts.push(
      `<rect x="${start.toFixed(1)}" y="${top - 4}" width="${(end - start).toFixed(1)}" height="${history.users * ROW_HEIGHT + 8}" fill="${FAULT}" opacity="0.4" stroke="#1a202c" stroke-width="1"><title>${escape(faultRange(history.fault, history.durationMs))}</title></rect>`,
      `<text x="${(start + 2).toFixed(1)}" y="${top - 8}" font-size="11" font-weight="bold" fill="#1a202c">fault</text>`,
    );
  }
  for (let user = 0; user < history.users; user += 1) {
    parts.push(`<text x="2" y="${top + user * ROW_HEIGHT + 12}" font-size="11" fill="#2d3748">user ${user}</text>`);
  }
  // Successes are drawn as runs (one bar per user, instance and stretch of time, merged while
  // less than a pixel apart) with no tooltip; every failure and refusal is its own mark with
  // one. That keeps the full matrix's report small without hiding anything that went wrong.
  const runs = new Map<string, { from: number; to: number; fill: string; y: number; opacity: number }>();
  const bar = (from: number, to: number, y: number, fill: string, opacity: number, title = "") =>
    `<rect x="${from.toFixed(1)}" y="${y}" width="${Math.max(1.5, to - from).toFixed(1)}" height="${ROW_HEIGHT - 3}" fill="${fill}"${opacity < 1 ? ` opacity="${opacity}"` : ""}${title ? `><title>${escape(title)}</title></rect>` : "/>"}`;
  const flush = (key: string) => {
    const run = runs.get(key);
    if (run) parts.push(bar(run.from, run.to, run.y, run.fill, run.opacity));
    runs.delete(key);
  };
  for (const op of [...operations].sort((a, b) => a.start - b.start)) {
    const y = top + op.user * ROW_HEIGHT;
    // Faded: the read-back and the probe, after the run; not part of the workload.
    const opacity = op.workload ? 1 : 0.45;
    if (op.outcome === "ok") {
      const key = `${op.user}`;
      const fill = colourOf(op.servedBy);
      const run = runs.get(key);
      if (run && run.fill === fill && run.opacity === opacity && x(op.start) - run.to < 1)
        run.to = Math.max(run.to, x(op.end));
      else {
        flush(key);
        runs.set(key, { from: x(op.start), to: x(op.end), fill, y, opacity });
      }
      continue;
    }
    const expected = op.name === "probe" && op.outcome === "refused";
    const fill = expected ? EXPECTED_REFUSAL : op.outcome === "refused" ? REFUSED : ERROR;
    parts.push(bar(x(op.start), x(op.end), y, fill, opacity, operationTitle(op)));
  }
  for (const key of [...runs.keys()]) flush(key);
  // Each lost upload on its user's lane, at the moment it was acknowledged: drawn last, on top.
  for (const lost of (cell.anomalies ?? []).filter((each) => each.figure === "writes_lost" && each.upload)) {
    const upload = lost.upload as NonNullable<Anomaly["upload"]>;
    const answer = lost.status === null ? "no answer" : `answered ${lost.status}`;
    const title = `lost upload ${upload.filename}: acknowledged at ${formatMs(upload.acknowledged_ms)}, then not readable at the read-back (${lost.operation}: ${answer})`;
    parts.push(
      `<path class="lost-upload" d="${diamond(x(upload.acknowledged_ms), top + lost.user * ROW_HEIGHT + (ROW_HEIGHT - 3) / 2, 6)}" fill="${LOST_UPLOAD}" stroke="#1a202c"><title>${escape(title)}</title></path>`,
    );
  }
  const key = (fill: string, text: string, opacity = 1) =>
    `<span class="key" style="background:${fill}${opacity < 1 ? `;opacity:${opacity}` : ""}"></span>${text}`;
  const legend = [
    ...instances.map((id) => key(colourOf(id), `served by ${escape(id)}`)),
    key(REFUSED, "refused (a 401)"),
    key(ERROR, "failed after its retries"),
    `<svg class="diamond" width="12" height="12" aria-hidden="true"><path d="${diamond(6, 6, 6)}" fill="${LOST_UPLOAD}" stroke="#1a202c"/></svg>lost upload (where it was acknowledged)`,
    key(FAULT, "the fault (at least 6 px wide, however short)", 0.4),
  ];
  const readBack = operations.find((op) => !op.workload && op.outcome === "ok")?.servedBy;
  const after = [
    key(colourOf(readBack), "the read-back (every acknowledged upload read again)", 0.45),
    key(EXPECTED_REFUSAL, "the spare login's probe (its 401 is what should happen)", 0.45),
  ];
  return `<svg viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="timeline">${parts.join("")}</svg>
<p class="legend">${legend.join(" ")}<br>Faded, after the run: ${after.join(" ")}. Hover a mark for what happened.</p>`;
}

/** The cell's notes, each in the words every report uses. */
function notesList(notes: Note[], name?: (note: Note) => string): string {
  if (!notes.length) return "";
  const items = notes.map(
    (note) =>
      `<li class="${note.kind === "disagrees" ? "anomaly" : "note"}">${name ? name(note) : ""}${escape(note.text)}</li>`,
  );
  return `<ul class="notes">${items.join("")}</ul>`;
}

/** Every anomaly of a failed cell, earliest first, each named by the figure it counts toward. */
function anomalyList(cell: CellResult): string {
  const anomalies = cell.anomalies ?? (cell.first_anomaly ? [cell.first_anomaly] : []);
  if (cell.verdict !== "failed" || !anomalies.length) return "";
  const counts = Object.entries(FIGURE_NAMES)
    .map(([figure, name]) => [name, anomalies.filter((each) => each.figure === figure).length] as const)
    .filter(([, count]) => count > 0)
    .map(([name, count]) => `${name} ${count}`);
  // An expectation said once: most anomalies of a cell expect the same thing (a 401 is a 401), and a cell may have hundreds.
  const items = anomalies.map((each, i) => {
    const repeated = i > 0 && anomalies[i - 1].expected === each.expected;
    const text = anomalyText(repeated ? { ...each, expected: "the same as above" } : each);
    return `<li>${each.figure ? `<b>${FIGURE_NAMES[each.figure]}</b>: ` : ""}${escape(text)}.</li>`;
  });
  return `<p class="anomaly">Why it failed: ${anomalies.length === 1 ? "1 anomaly" : `${anomalies.length} anomalies`}${counts.length ? ` (${counts.join(", ")})` : ""}, earliest first:</p>
<ol class="anomalies">${items.join("")}</ol>`;
}

/** The matrix cell's marks, as the terminal prints them (`⚠` for its `!`). */
function marksText(runs: CellResult[]): string {
  const marks = matrixMarks(runs);
  return marks.disagrees ? " ⚠" : `${marks.dagger ? "†" : ""}${marks.rerun ? " r" : ""}`;
}

export function htmlReport(info: RunInfo, cells: CellResult[]): string {
  const designs = DESIGNS.filter((design) => cells.some((cell) => cell.design === design));
  const scenarios = SCENARIOS.filter((scenario) => cells.some((cell) => cell.scenario === scenario));
  const link = (cell: CellResult, text: string) => {
    const index = cells.indexOf(cell);
    return cell.history ? `<a href="#${anchor(cell, index)}">${escape(text)}</a>` : escape(text);
  };
  const rows = designs
    .map((design) => {
      const tds = scenarios.map((scenario) => {
        const runs = cells.filter((cell) => cell.design === design && cell.scenario === scenario);
        if (!runs.length) return "<td></td>";
        const expected = expectation(design, scenario);
        const verdicts = [...new Set(runs.map((run) => run.verdict))].join("/");
        const tip = `expected ${expected.verdict}${expected.dagger ? "†" : ""}`;
        return `<td style="background:${VERDICT_COLOURS[runs[0].verdict]}" title="${escape(tip)}">${link(runs[0], verdicts + marksText(runs))}</td>`;
      });
      return `<tr><th>${escape(design)}</th>${tds.join("")}</tr>`;
    })
    .join("\n");
  const allNotes = cells
    .map((cell) => notesList(cellNotes(cell), () => `${link(cell, `${cell.design} × ${cell.scenario}`)}: `))
    .join("");
  const agrees = cells.every((cell) => agreement(cell).agrees);
  const sections = cells
    .map((cell, index) => {
      if (!cell.history) return "";
      const figures = `ops ${cell.ops}, errors ${cell.errors}, retries ${cell.retries}, sessions broken ${cell.sessions_broken}, session state lost ${cell.session_state_lost}, writes lost ${cell.writes_lost}, duplicates ${cell.duplicate_writes}, revived ${cell.revocations_lost}, availability ${Math.round((cell.availability ?? 0) * 1000) / 10}%, recovery ${cell.recovery_ms} ms, p99 ${cell.p99_ms} ms; by operation: ${Object.entries(
        cell.ops_by_operation ?? {},
      )
        .map(([name, count]) => `${name} ${count}`)
        .join(", ")}`;
      const fault = cell.history.fault
        ? `<p>${escape(faultRange(cell.history.fault, cell.history.durationMs))}</p>`
        : "";
      return `<section id="${anchor(cell, index)}"><h2>${escape(cell.design)} × ${escape(cell.scenario)}: <span style="background:${VERDICT_COLOURS[cell.verdict]}">${cell.verdict}${marksText([cell])}</span></h2>
<p>${escape(figures)}</p>${fault}
${notesList(cellNotes(cell))}${anomalyList(cell)}
${timeline(cell)}</section>`;
    })
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Survival matrix</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em; color: #1a202c; }
table { border-collapse: collapse; } th, td { border: 1px solid #cbd5e0; padding: 4px 8px; text-align: left; }
td a { color: inherit; } .anomaly { color: #9b2c2c; } .note { color: #744210; }
ol.anomalies { max-height: 16em; overflow-y: auto; font-size: 14px; margin-top: 0; }
.legend { font-size: 13px; } .key { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 10px; }
svg.diamond { margin: 0 4px -1px 10px; } section { margin-top: 2em; border-top: 1px solid #e2e8f0; }
</style></head><body>
<h1>Which design survives?</h1>
<p>Measured ${escape(info.date)} on ${info.machine.cores} cores (${escape(info.machine.cpu)}), Node ${escape(info.node)}, Redis ${escape(info.redis ?? "not installed")}, PostgreSQL ${escape(info.postgres ?? "not installed")}, seed ${info.seed}, in ${info.wall_s} s. Reproduce with <code>${escape(reproduce(info))}</code>.</p>
<p>⚠ marks a cell that disagrees with the expected matrix, † a timing swap (see the notes), r a cell that agreed on a rerun; hover a cell for its expectation, click it for its timeline.</p>
<table><tr><th></th>${scenarios.map((scenario) => `<th>${escape(scenario)}</th>`).join("")}</tr>
${rows}</table>
${allNotes ? `<h2>Notes</h2>\n${allNotes}` : ""}
<p class="${agrees ? "note" : "anomaly"}">${agrees ? "The run agrees with the expected matrix." : "The run DISAGREES with the expected matrix: see the notes."}</p>
${sections}
</body></html>
`;
}
