// `npm run lab`: the survival matrix (docs/how-the-lab-works.md). Every design against every
// scenario, each cell with its own processes, ports, Redis and data; a progress line per
// cell on stderr, the matrix at the end, and reports in reports/. A cell that disagrees with
// the expected matrix is run once more, alone, and counts as agreeing only if that run agrees
// (both runs reported, with the machine's load); so does a cell the lab could not run (a user
// that could not set up before the fault, say). On a busy machine fewer cells run at once.
// Exit codes, as Maelstrom's: 0 when the run agrees (failed verdicts are expected, not
// errors), 1 when it disagrees, 2 when the lab itself could not run.

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseOrExit, readArgs, runProgram, readDesign, readInteger, refuseNativeWindows, UsageError } from "../cli";
import { Design, DESIGNS, isPhase1 } from "../designs";
import { stopEverything } from "../processes/managed-process";
import {
  keepPostgresSeedIn,
  POSTGRES_MISSING_MESSAGE,
  PostgresServer,
  postgresVersion,
  startLabPostgres,
} from "../processes/postgres";
import { balancerVersion, findBalancer, RealBalancer } from "../processes/nginx-haproxy";
import { REDIS_MISSING_MESSAGE, redisVersion } from "../processes/redis";
import { cleanUpEarlierRuns, makeRunDir, reportsDir, shownPath } from "../processes/run-dir";
import { runSecret } from "../processes/server-env";
import { agreement } from "./agreement";
import { CellResult, runCell } from "./cell";
import { loadText, plural } from "./notes";
import { markdownReport, RunInfo, textReport, toJson } from "./report";
import { htmlReport } from "./report-html";
import { isDatabaseScenario, notApplicable, Scenario, SCENARIOS, SETUPS } from "./scenarios";
import {
  Headroom,
  jobsForHeadroom,
  machine,
  measureHeadroom,
  quietJobs as quietCells,
  watchLoad,
} from "../processes/machine";

const USAGE = `usage: npm run lab -- [--design D[,D...]] [--scenario S[,S...]] [--jobs N] [--vus N] [--seed N] [--repeat N] [--lb builtin|nginx|haproxy] [--json]
  designs:   ${DESIGNS.join(", ")}
  scenarios: ${SCENARIOS.join(", ")}`;

/** How the reason of a cell that the lab could not run begins. */
const COULD_NOT_RUN = "the lab could not run this cell: ";

interface LabOptions {
  designs: Design[];
  scenarios: Scenario[];
  /** Cells at once, when --jobs says; otherwise the lab decides from the machine's headroom. */
  jobs?: number;
  vus: number;
  seed: number;
  repeat: number;
  lb: "builtin" | RealBalancer;
  json: boolean;
}

export function readOptions(argv: string[]): LabOptions {
  const values = readArgs(argv, ["design", "scenario", "jobs", "vus", "seed", "repeat", "lb"], ["json", "help"]);
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  // Each takes one name or a comma-separated list.
  const designs = values.design?.split(",").map((name) => readDesign(name.trim(), true));
  const scenarios = values.scenario?.split(",").map((name) => {
    if (!SCENARIOS.includes(name.trim() as Scenario)) throw new UsageError(`unknown scenario ${JSON.stringify(name)}`);
    return name.trim() as Scenario;
  });
  const lb = values.lb ?? "builtin";
  if (lb !== "builtin" && lb !== "nginx" && lb !== "haproxy")
    throw new UsageError(`--lb must be builtin, nginx or haproxy (got ${JSON.stringify(lb)})`);
  return {
    designs: designs ? DESIGNS.filter((design) => designs.includes(design)) : [...DESIGNS],
    scenarios: scenarios ? SCENARIOS.filter((scenario) => scenarios.includes(scenario)) : [...SCENARIOS],
    jobs: values.jobs === undefined ? undefined : readInteger("jobs", values.jobs, 1, 1, 16),
    vus: readInteger("vus", values.vus, 8, 1, 64),
    seed:
      values.seed === undefined
        ? Math.floor(Math.random() * 1_000_000)
        : readInteger("seed", values.seed, 0, 0, 2 ** 31),
    repeat: readInteger("repeat", values.repeat, 1, 1, 20),
    lb,
    json: values.json ?? false,
  };
}

/**
 * Runs `tasks` with at most `jobs` at once, the longest first (`seconds`: what each usually
 * takes), so that no long cell is left to run alone at the end; results in submission order.
 */
async function pool<T>(tasks: Array<() => Promise<T>>, jobs: number, seconds: (index: number) => number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  const order = tasks.map((_, index) => index).sort((a, b) => seconds(b) - seconds(a) || a - b);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(jobs, tasks.length) }, async () => {
      while (next < order.length) {
        const index = order[next++];
        results[index] = await tasks[index]();
      }
    }),
  );
  return results;
}

/** "0.1 of 2 cores idle, a core's share 0.4, load average 3.2": the headroom in the first line. */
function headroomText(headroom: Headroom): string {
  return `${headroom.idle_cores} of ${plural(os.cpus().length, "core")} idle, a fixed task got ${headroom.cpu_share} of a core, load average ${headroom.load_average}`;
}

async function main(): Promise<number> {
  const options = parseOrExit(USAGE, () => readOptions(process.argv.slice(2)));
  refuseNativeWindows("The lab");
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const out = options.json ? log : (line: string) => process.stdout.write(`${line}\n`);

  for (const line of cleanUpEarlierRuns()) log(`lab: ${line}`);
  const runDir = makeRunDir();
  const interrupted = (signal: string) => {
    log(`\nlab: ${signal}: stopping every process this run started`);
    void stopEverything().finally(() => {
      rmSync(runDir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once("SIGINT", () => interrupted("SIGINT"));
  process.once("SIGTERM", () => interrupted("SIGTERM"));

  if (options.lb !== "builtin" && !findBalancer(options.lb)) {
    log(
      `lab: ${options.lb} not found: npm run setup installs it (or apt install ${options.lb}, brew install ${options.lb}); or use --lb builtin`,
    );
    return 2;
  }
  const redis = redisVersion();
  if (!redis && options.designs.some((design) => !isPhase1(design))) {
    log(`lab: ${REDIS_MISSING_MESSAGE}. The phase-2 designs are marked skipped.`);
  }
  const postgresInstalled = postgresVersion();
  if (!postgresInstalled && options.designs.some((design) => !isPhase1(design))) {
    log(`lab: ${POSTGRES_MISSING_MESSAGE}. The phase-2 designs are marked skipped.`);
  }

  // Fewer cells at once on a busy machine, unless --jobs says how many: a cell that shares a core
  // with two others runs past its deadlines, and its verdict would be the machine's. The
  // deadlines themselves never stretch.
  const headroom = await measureHeadroom();
  const quietJobs = quietCells(os.cpus().length);
  const jobs = options.jobs ?? jobsForHeadroom(quietJobs, headroom);

  const cells: Array<{ design: Design; scenario: Scenario; repetition: number }> = [];
  for (const design of options.designs)
    for (const scenario of options.scenarios)
      for (let r = 1; r <= options.repeat; r += 1) cells.push({ design, scenario, repetition: r });
  const started = Date.now();
  // One PostgreSQL for the run, with the schema migrated once into a template that each cell
  // clones; the cells that fault PostgreSQL start their own (processes/postgres.ts).
  let postgres: PostgresServer | undefined;
  keepPostgresSeedIn(runDir);
  const sharesPostgres = cells.some(
    (cell) =>
      !isPhase1(cell.design) && !isDatabaseScenario(cell.scenario) && !notApplicable(cell.design, cell.scenario),
  );
  if (sharesPostgres && postgresInstalled) {
    const shared = await startLabPostgres(path.join(runDir, "postgres"));
    postgres = shared.server;
    log(`lab: PostgreSQL for the run on port ${postgres.port} (pid ${postgres.pid}), ready in ${shared.start_ms} ms`);
  }
  const secret = runSecret(); // every server of the run must agree on it; no two runs share it
  let done = 0;
  const balancerName =
    options.lb === "builtin" ? "the built-in balancer" : `${options.lb} ${balancerVersion(options.lb) ?? ""}`.trim();
  log(
    `lab: ${plural(cells.length, "cell")}, ${jobs} at a time${jobs < quietJobs && !options.jobs ? ` (${quietJobs} on a quiet machine; ${headroomText(headroom)})` : ""}, ${options.vus} virtual users each, ${balancerName} for the balancer scenarios, seed ${options.seed}`,
  );
  const measure = async (cell: (typeof cells)[number], index: number, tag: string): Promise<CellResult> => {
    const load = watchLoad(); // a cell that could not run keeps the load it met too
    try {
      return await runCell({
        design: cell.design,
        scenario: cell.scenario,
        users: options.vus,
        seed: options.seed + index,
        runDir,
        tag,
        cellNumber: index + 1,
        lb: options.lb,
        secret,
        postgres,
      });
    } catch (error) {
      return {
        design: cell.design,
        scenario: cell.scenario,
        verdict: "skipped",
        reason: `${COULD_NOT_RUN}${(error as Error).message}`,
        crashed: true,
        duration_ms: 0,
        load: load(),
      };
    } finally {
      load();
    }
  };
  const results = await pool(
    cells.map((cell, index) => async (): Promise<CellResult> => {
      const tag = `${cell.design}--${cell.scenario}${options.repeat > 1 ? `--${cell.repetition}` : ""}`;
      const result = await measure(cell, index, tag);
      done += 1;
      const { agrees } = agreement(result);
      const figures = result.crashed
        ? ""
        : result.ops !== undefined
          ? ` (ops ${result.ops}, errors ${result.errors}, ${(result.duration_ms / 1000).toFixed(1)} s${
              result.database_cost
                ? `; database ${Object.entries(result.database_cost)
                    .map(([key, ms]) => `${key} ${ms}`)
                    .join(", ")}`
                : ""
            })`
          : result.reason
            ? ` (${result.reason})`
            : "";
      const verdict = result.crashed
        ? `could not run: ${result.reason?.slice(COULD_NOT_RUN.length)}`
        : `${result.verdict}${agrees ? "" : "  <- disagrees with the expected matrix"}`;
      log(`[${String(done).padStart(2)}/${cells.length}] ${cell.design} × ${cell.scenario}: ${verdict}${figures}`);
      return result;
    }),
    jobs,
    (index) =>
      notApplicable(cells[index].design, cells[index].scenario) ? 0 : SETUPS[cells[index].scenario].typicalSeconds,
  );

  // The rerun rule: a cell that disagreed, or could not run (a server that did not start in
  // time on a starved machine, say), runs once more, alone, when every other cell is done. It
  // counts as agreeing only if that run agrees; the report keeps the first run's reason and load.
  const firstVerdicts = results.map(agreement);
  // For the lab's own tests: LAB_PLANT_FIRST_RUN_ONLY=1 lifts LAB_PLANT_EXPECTATION before the
  // reruns, so that a planted disagreement agrees on its rerun (the path that reports mark `r`).
  if (process.env.LAB_PLANT_FIRST_RUN_ONLY === "1") delete process.env.LAB_PLANT_EXPECTATION;
  for (const [index, first] of results.entries()) {
    const verdict = firstVerdicts[index];
    if (verdict.agrees) continue;
    const cell = cells[index];
    log(
      `rerun   ${cell.design} × ${cell.scenario} ${first.crashed ? `could not run (${first.reason?.slice(COULD_NOT_RUN.length)}` : `disagreed (${verdict.note}`}${loadText(first)}): running it again, alone`,
    );
    const again = await measure(
      cell,
      index,
      `${cell.design}--${cell.scenario}--rerun${options.repeat > 1 ? `--${cell.repetition}` : ""}`,
    );
    again.first_run = {
      verdict: first.verdict,
      note: verdict.note ?? "",
      load: first.load,
      ...(first.first_anomaly ? { first_anomaly: first.first_anomaly } : {}),
      ...(first.crashed ? { crashed: true } : {}),
    };
    results[index] = again;
    const outcome = again.crashed
      ? `could not run again: ${again.reason?.slice(COULD_NOT_RUN.length)}`
      : `${again.verdict}, ${agreement(again).agrees ? "agreed on a rerun" : "disagrees again"}`;
    log(`rerun   ${cell.design} × ${cell.scenario}: ${outcome}`);
  }

  await postgres?.stop();
  const info: RunInfo = {
    date: new Date().toISOString(),
    machine: machine(),
    node: process.versions.node,
    redis,
    postgres: postgresInstalled,
    seed: options.seed,
    options: {
      design: options.designs.length === DESIGNS.length ? "all" : options.designs.join(","),
      scenario: options.scenarios.length === SCENARIOS.length ? "all" : options.scenarios.join(","),
      jobs,
      ...(jobs < quietJobs && !options.jobs ? { jobs_quiet: quietJobs } : {}),
      vus: options.vus,
      repeat: options.repeat,
      lb: options.lb === "builtin" ? "builtin" : `${options.lb} ${balancerVersion(options.lb) ?? ""}`.trim(),
    },
    wall_s: Math.round((Date.now() - started) / 100) / 10,
    headroom,
  };
  const reports = reportsDir();
  mkdirSync(reports, { recursive: true });
  const json = toJson(info, results);
  writeFileSync(path.join(reports, "survival.json"), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(path.join(reports, "survival.md"), markdownReport(info, results));
  writeFileSync(path.join(reports, "survival.html"), htmlReport(info, results));
  out(textReport(info, results));
  out(
    `\nReports: ${["survival.md", "survival.json", "survival.html"].map((name) => path.join(shownPath(reports), name)).join(", ")} (the HTML opens offline).`,
  );
  if (options.json) process.stdout.write(`${JSON.stringify(json)}\n`);
  rmSync(runDir, { recursive: true, force: true });
  const crashed = results.find((result) => result.crashed);
  if (crashed) {
    log(`lab: a cell could not run, twice: ${crashed.design} × ${crashed.scenario}: ${crashed.reason}`);
    return 2;
  }
  return results.every((result) => agreement(result).agrees) ? 0 : 1;
}

if (require.main === module) runProgram("lab", main);
