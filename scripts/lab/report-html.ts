// reports/survival.html: the matrix and, per cell, a timeline drawn as inline SVG (no CDN,
// no script, no network: it opens offline). Each row is a virtual user, each mark an
// operation: coloured by the instance that served it when it succeeded, orange when refused
// (a 401, say), red when it failed after its retries. The grey band is the fault. How to
// read it: docs/how-the-lab-works.md, "Reading the reports".

import { CellResult } from "./cell";
import { anomalySentence, reproduce, RunInfo } from "./report";
import { DESIGNS } from "../designs";
import { agreement } from "./agreement";
import { faultSentence } from "../workbench/nemesis";
import { expectation, SCENARIOS } from "./scenarios";

const INSTANCE_COLOURS = ["#2b6cb0", "#2f855a", "#6b46c1", "#2c7a7b", "#975a16"];
const REFUSED = "#dd6b20";
const ERROR = "#c53030";
const VERDICT_COLOURS: Record<string, string> = {
  survived: "#c6f6d5",
  degraded: "#fefcbf",
  failed: "#fed7d7",
  "n/a": "#edf2f7",
  skipped: "#edf2f7",
};
const MAX_MARKS = 1500;

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function anchor(cell: CellResult, index: number): string {
  return `cell-${cell.design}-${cell.scenario}-${index}`;
}

function timeline(cell: CellResult): string {
  const history = cell.history;
  if (!history) return "";
  const operations = history.operations.slice(0, MAX_MARKS);
  const width = 900;
  const rowHeight = 12;
  const top = 24;
  const height = top + history.users * rowHeight + 20;
  const duration = Math.max(1, history.durationMs, ...operations.map((op) => op.end));
  const x = (ms: number) => 46 + (ms / duration) * (width - 56);
  const instances = [...new Set(operations.map((op) => op.servedBy).filter((id): id is string => Boolean(id)))].sort();
  const colourOf = (id?: string) =>
    INSTANCE_COLOURS[Math.max(0, instances.indexOf(id ?? "")) % INSTANCE_COLOURS.length];
  const parts: string[] = [];
  if (history.fault) {
    // At least 6 px wide and labelled: a 30 ms fault in a 10 s cell would otherwise be a hairline nobody sees.
    const start = x(history.fault.began_ms);
    const end = Math.max(start + 6, x(history.fault.ended_ms ?? history.durationMs));
    parts.push(
      `<rect x="${start.toFixed(1)}" y="${top - 4}" width="${(end - start).toFixed(1)}" height="${history.users * rowHeight + 8}" fill="#4a5568" opacity="0.4" stroke="#1a202c" stroke-width="1"><title>${escape(faultSentence(history.fault))}</title></rect>`,
    );
    parts.push(
      `<text x="${(start + 2).toFixed(1)}" y="${top - 7}" font-size="10" font-weight="bold" fill="#1a202c">fault</text>`,
    );
  }
  for (let user = 0; user < history.users; user += 1) {
    parts.push(`<text x="2" y="${top + user * rowHeight + 9}" font-size="9" fill="#4a5568">user ${user}</text>`);
  }
  // Successes are drawn as runs (one bar per user, instance and stretch of time, merged while
  // less than a pixel apart) with no tooltip; every failure and refusal is its own mark with
  // one. That keeps the full matrix's report small (under 2 MB) without hiding anything that
  // went wrong.
  const runs = new Map<string, { from: number; to: number; fill: string; y: number; opacity: number }>();
  const flush = (key: string) => {
    const run = runs.get(key);
    if (run)
      parts.push(
        `<rect x="${run.from.toFixed(1)}" y="${run.y}" width="${Math.max(1.5, run.to - run.from).toFixed(1)}" height="${rowHeight - 3}" fill="${run.fill}"${run.opacity < 1 ? ` opacity="${run.opacity}"` : ""}/>`,
      );
    runs.delete(key);
  };
  for (const op of [...operations].sort((a, b) => a.start - b.start)) {
    const y = top + op.user * rowHeight;
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
    const fill = op.outcome === "refused" ? REFUSED : ERROR;
    const title = `${op.name} by user ${op.user}: ${op.outcome}${op.status ? ` ${op.status}` : ""}${op.code ? ` ${op.code}` : ""}${op.servedBy ? ` on ${op.servedBy}` : ""}, ${Math.round(op.end - op.start)} ms, ${op.attempts.length} attempt(s)`;
    parts.push(
      `<rect x="${x(op.start).toFixed(1)}" y="${y}" width="${Math.max(1.5, x(op.end) - x(op.start)).toFixed(1)}" height="${rowHeight - 3}" fill="${fill}"${opacity < 1 ? ` opacity="${opacity}"` : ""}><title>${escape(title)}</title></rect>`,
    );
  }
  for (const key of [...runs.keys()]) flush(key);
  parts.push(
    `<text x="40" y="${height - 4}" font-size="9" fill="#4a5568">0 ms</text><text x="${width - 60}" y="${height - 4}" font-size="9" fill="#4a5568">${Math.round(duration)} ms</text>`,
  );
  const legend = instances
    .map((id) => `<span class="key" style="background:${colourOf(id)}"></span>${escape(id)}`)
    .join(" ");
  return `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="timeline">${parts.join("")}</svg>
<p class="legend">${legend} <span class="key" style="background:${REFUSED}"></span>refused (401…) <span class="key" style="background:${ERROR}"></span>failed after retries <span class="key" style="background:#4a5568"></span>fault (at least 6 px wide, however short); faded marks: the read-back after the run</p>`;
}

export function htmlReport(info: RunInfo, cells: CellResult[]): string {
  const designs = DESIGNS.filter((design) => cells.some((cell) => cell.design === design));
  const scenarios = SCENARIOS.filter((scenario) => cells.some((cell) => cell.scenario === scenario));
  const rows = designs
    .map((design) => {
      const tds = scenarios.map((scenario) => {
        const index = cells.findIndex((cell) => cell.design === design && cell.scenario === scenario);
        const cell = cells[index];
        if (!cell) return "<td></td>";
        const { agrees } = agreement(cell);
        const expected = expectation(design, scenario);
        const label = `${cell.verdict}${agrees ? "" : " ⚠"}`;
        const tip = `expected ${expected.verdict}${expected.dagger ? "†" : ""}`;
        const body = cell.history ? `<a href="#${anchor(cell, index)}">${escape(label)}</a>` : escape(label);
        return `<td style="background:${VERDICT_COLOURS[cell.verdict]}" title="${escape(tip)}">${body}</td>`;
      });
      return `<tr><th>${escape(design)}</th>${tds.join("")}</tr>`;
    })
    .join("\n");
  const sections = cells
    .map((cell, index) => {
      if (!cell.history) return "";
      const { agrees, note } = agreement(cell);
      const sentence = anomalySentence(cell);
      const anomaly = sentence ? `<p class="anomaly">First anomaly: ${escape(sentence)}</p>` : "";
      const figures = `ops ${cell.ops}, errors ${cell.errors}, retries ${cell.retries}, sessions broken ${cell.sessions_broken}, session state lost ${cell.session_state_lost}, writes lost ${cell.writes_lost}, duplicates ${cell.duplicate_writes}, revived ${cell.revocations_lost}, availability ${Math.round((cell.availability ?? 0) * 1000) / 10}%, recovery ${cell.recovery_ms} ms, p99 ${cell.p99_ms} ms; by operation: ${Object.entries(
        cell.ops_by_operation ?? {},
      )
        .map(([name, count]) => `${name} ${count}`)
        .join(", ")}`;
      return `<section id="${anchor(cell, index)}"><h2>${escape(cell.design)} × ${escape(cell.scenario)}: <span style="background:${VERDICT_COLOURS[cell.verdict]}">${cell.verdict}</span></h2>
<p>${escape(figures)}</p>${cell.history.fault ? `<p>Fault: ${escape(faultSentence(cell.history.fault))} (${Math.round(cell.history.fault.began_ms)} to ${Math.round(cell.history.fault.ended_ms ?? cell.history.durationMs)} ms).</p>` : ""}
${anomaly}${note ? `<p class="${agrees ? "note" : "anomaly"}">${escape(note)}</p>` : ""}
${timeline(cell)}</section>`;
    })
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Survival matrix</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #1a202c; }
table { border-collapse: collapse; } th, td { border: 1px solid #cbd5e0; padding: 4px 8px; text-align: left; }
td a { color: inherit; } .anomaly { color: #9b2c2c; } .note { color: #744210; }
.legend { font-size: 12px; } .key { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; }
section { margin-top: 2em; border-top: 1px solid #e2e8f0; }
</style></head><body>
<h1>Which design survives?</h1>
<p>Measured ${escape(info.date)} on ${info.machine.cores} cores (${escape(info.machine.cpu)}), Node ${escape(info.node)}, Redis ${escape(info.redis ?? "not installed")}, seed ${info.seed}, in ${info.wall_s} s. Reproduce with <code>${escape(reproduce(info))}</code>. ⚠ marks a cell that disagrees with the expected matrix; hover a cell for its expectation.</p>
<table><tr><th></th>${scenarios.map((scenario) => `<th>${escape(scenario)}</th>`).join("")}</tr>
${rows}</table>
${sections}
</body></html>
`;
}
