/**
 * @jest-environment ./test-support/machine-lock-environment.js
 * @machine-lock exclusive
 * @machine-heavy
 */
// The expected matrix (docs/how-the-lab-works.md, "The expected matrix and the agreement
// rule"), measured once per test run with real processes, real Redis and real PostgreSQL: `npm run lab --json`,
// every design against every scenario, judged by the agreement rule. The table below is
// written out again on purpose, not imported from the lab's own code, so that a mistake in
// scenarios.ts cannot hide here.
//
// The matrix runs once (it is the suite's most expensive part). A cell that disagrees is run
// again once, alone, with another seed, and must agree then; the first disagreement is
// printed, so that a flaky cell is seen rather than hidden.

import { spawnSync } from "node:child_process";
import path from "node:path";
import { REPO_ROOT } from "../processes/run-dir";

const LAB = path.join(REPO_ROOT, "dist", "scripts", "lab", "lab.js");

// The expected matrix as the terminal marks it: ok survived, deg degraded, FAIL failed, - n/a, and † where
// survived and degraded both agree. A column per design, a row per scenario in the lab's order.
const MATRIX = `
scenario           stateless  stateful  memory-session  redis-session  cached-session  jwt   atomic-session
baseline           ok         ok        ok              ok             ok              ok    ok
restart            ok†        FAIL      FAIL            ok†            ok†             ok†   ok†
crash              ok†        FAIL      FAIL            ok†            ok†             ok†   ok†
round-robin        ok         FAIL      FAIL            ok             FAIL            ok    ok
sticky-failover    ok†        FAIL      FAIL            ok†            ok†             ok†   ok†
rolling-deploy     ok†        FAIL      FAIL            ok†            FAIL            ok†   ok†
concurrent         ok         ok        FAIL            FAIL           FAIL            ok    ok
store-restart      -          -         ok†             FAIL           FAIL            FAIL  FAIL
store-restart-aof  -          -         ok†             ok†            ok†             ok†   ok†
store-outage       -          -         ok†             deg            deg             deg   deg
store-failover     -          -         ok†             deg†           deg†            deg†  deg†
store-freeze       -          -         ok†             FAIL           FAIL            deg†  FAIL
store-freeze-safe  -          -         ok†             deg†           deg†            deg†  deg†
db-restart         -          -         deg†            deg†           deg†            deg†  deg†
db-outage          -          -         deg†            deg†           deg†            deg†  deg†
`;
const MARKS: Record<string, string> = { ok: "survived", deg: "degraded", FAIL: "failed", "-": "n/a" };
const [HEADER, ...ROWS] = MATRIX.trim()
  .split("\n")
  .map((line) => line.split(/ +/));
const SCENARIOS = ROWS.map(([scenario]) => scenario);
/** Per design, the expected verdict of each scenario in SCENARIOS order ("survived†" where the † allows degraded). */
const EXPECTED: Record<string, string[]> = Object.fromEntries(
  HEADER.slice(1).map((design, column) => [
    design,
    ROWS.map((row) => MARKS[row[column + 1].replace("†", "")] + (row[column + 1].endsWith("†") ? "†" : "")),
  ]),
);

interface Cell {
  design: string;
  scenario: string;
  verdict: string;
  errors: number;
  max_failed_attempt_ms: number;
  failed_attempts_not_503: number;
  abandoned_attempts: number;
  revocations_lost: number;
  first_anomaly: unknown;
  slowest_failed_attempt: unknown;
}

/** The agreement rule, written out again: why a cell disagrees, or undefined. */
function disagreement(cell: Cell): string | undefined {
  const expected = EXPECTED[cell.design][SCENARIOS.indexOf(cell.scenario)];
  const dagger = expected.endsWith("†");
  const verdict = expected.replace("†", "");
  if (verdict === "degraded" && !dagger) {
    if (cell.verdict !== "degraded") return `expected degraded, got ${cell.verdict}`;
    if (cell.max_failed_attempt_ms >= 500 || cell.failed_attempts_not_503 > 0 || cell.abandoned_attempts > 0) {
      return `outage not answered with prompt 503s (${cell.max_failed_attempt_ms} ms, ${cell.failed_attempts_not_503} not 503, ${cell.abandoned_attempts} abandoned)`;
    }
    return undefined;
  }
  if (cell.verdict === verdict || (dagger && (cell.verdict === "degraded" || cell.verdict === "survived")))
    return undefined;
  return `expected ${expected}, got ${cell.verdict}`;
}

function lab(args: string[]): { cells: Cell[]; seed: number; redis: string | null; postgres: string | null } {
  const run = spawnSync(process.execPath, [LAB, "--json", ...args], {
    encoding: "utf8",
    // One cell at a time when the light files beside it leave less than a core idle at its
    // start: 400 s and more in CI (two or three at a time: 250 s).
    timeout: 600_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  // 0: the run agrees; 1: some cell disagreed even on the lab's own rerun (judged below, cell by cell); anything else: the lab could not run.
  if (run.status !== 0 && run.status !== 1) throw new Error(`lab exited ${run.status}:\n${run.stderr.slice(-3000)}`);
  return JSON.parse(run.stdout.trim().split("\n").pop() as string);
}

describe("the survival matrix, measured", () => {
  let cells: Cell[] = [];
  beforeAll(() => {
    const report = lab(["--seed", "20261124"]);
    expect(report.redis).not.toBeNull(); // CI installs redis-server and PostgreSQL: no cell may be skipped
    expect(report.postgres).not.toBeNull();
    cells = report.cells;
  }, 620_000);

  it("holds all 105 cells, each with a verdict", () => {
    expect(cells).toHaveLength(105);
    expect(cells.filter((cell) => cell.verdict === "skipped")).toEqual([]);
  });

  it.each(Object.keys(EXPECTED))(
    "reads for %s as the expected matrix says",
    (design) => {
      const row = cells.filter((cell) => cell.design === design);
      expect(row.map((cell) => cell.scenario)).toEqual(SCENARIOS);
      for (const cell of row) {
        const first = disagreement(cell);
        if (!first) continue;
        console.warn(
          `${design} × ${cell.scenario} disagreed on the first run (${first}); running it again once`,
          cell.first_anomaly ?? cell.slowest_failed_attempt,
        );
        const again = lab(["--design", design, "--scenario", cell.scenario, "--seed", "777"]).cells[0];
        expect({ cell: `${design} × ${cell.scenario}`, disagreement: disagreement(again) ?? null }).toEqual({
          cell: `${design} × ${cell.scenario}`,
          disagreement: null,
        });
      }
    },
    120_000,
  );

  it("counts a logout that does not hold as revived: cached-session behind round robin (another instance's cache brings the session back), jwt after store-restart (the deny-list is gone)", () => {
    const revived = (design: string, scenario: string) =>
      cells.find((cell) => cell.design === design && cell.scenario === scenario)?.revocations_lost ?? 0;
    expect(revived("cached-session", "round-robin")).toBeGreaterThan(0);
    expect(revived("jwt", "store-restart")).toBeGreaterThan(0);
    // Every design that can log out tries its spare login; none revives it in the baseline.
    for (const design of Object.keys(EXPECTED))
      expect({ design, revived: revived(design, "baseline") }).toEqual({ design, revived: 0 });
  });
});
