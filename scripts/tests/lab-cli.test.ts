/**
 * @jest-environment ./test-support/machine-lock-environment.js
 * @machine-lock exclusive
 * @machine-heavy
 */
// `npm run lab` as a student runs it (compiled, as a real process): its options, its JSON,
// and that it leaves no process behind, whether it ends, is interrupted, or is killed
// (docs/how-the-lab-works.md, "Reading the reports" and "Processes and clean-up").

import { ChildProcess, spawn } from "node:child_process";
import { startProgram } from "../../test-support/server-process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { isAlive, isListening } from "../processes/managed-process";
import { REPO_ROOT, reportsDir } from "../processes/run-dir";
import { loggedProcesses } from "../../test-support/pid-log";

const LAB = path.join(REPO_ROOT, "dist", "scripts", "lab", "lab.js");
const scratch = mkdtempSync(path.join(os.tmpdir(), "lab-cli-"));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  rmSync(scratch, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function startLab(
  args: string[],
  pidLog?: string,
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<Run> } {
  if (!existsSync(LAB)) throw new Error(`${LAB} is missing: run npm run build first (npm test does)`);
  const { child, done } = startProgram(LAB, args, {
    ...process.env,
    ...(pidLog ? { LAB_PID_LOG: pidLog } : {}),
    ...env,
  });
  children.push(child);
  return { child, done };
}

function runLab(args: string[], pidLog?: string): Promise<Run> {
  return startLab(args, pidLog).done;
}

/** The text a browser shows of an HTML report: tags dropped, entities decoded, whitespace folded. */
function visible(html: string): string {
  return html
    .replace(/<[^>]+>/g, "")
    .replace(/&#(\d+);/g, (_, code) => String.fromCharCode(Number(code)))
    .replace(/\s+/g, " ");
}

function lastJson(stdout: string) {
  return JSON.parse(stdout.trim().split("\n").pop() as string);
}

async function expectNothingLeft(pidLog: string): Promise<void> {
  const processes = loggedProcesses(pidLog);
  expect(processes.length).toBeGreaterThan(0);
  // Node children exit on their own when their IPC channel closes: give them a moment.
  const deadline = Date.now() + 5000;
  while (processes.some((p) => isAlive(p.pid)) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 100));
  const survivors = processes.filter((p) => isAlive(p.pid));
  for (const p of survivors) process.kill(p.pid, "SIGKILL"); // never leave them, even when the test fails
  expect(survivors).toEqual([]);
  for (const p of processes) expect(await isListening(p.port)).toBe(false);
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("npm run lab", () => {
  it("runs one cell with --design and --scenario, prints JSON with every figure, and leaves nothing running", async () => {
    const pidLog = path.join(scratch, "one-cell.pids");
    const run = await runLab(["--design", "redis-session", "--scenario", "crash", "--json", "--seed", "7"], pidLog);
    expect(run.code).toBe(0);
    const report = lastJson(run.stdout);
    expect(report).toMatchObject({
      seed: 7,
      node: process.versions.node,
      redis: expect.stringMatching(/^\d+\.\d+/),
      postgres: expect.stringMatching(/^\d+\.\d+/),
      machine: { cores: os.cpus().length },
      // The machine's headroom before the run, which set how many cells ran at once.
      headroom: {
        idle_cores: expect.any(Number),
        load_average: expect.any(Number),
        event_loop_delay_ms: expect.any(Number),
        cpu_share: expect.any(Number),
        reference_ms: expect.any(Number),
      },
      options: { jobs: expect.any(Number) },
    });
    expect(report.cells).toHaveLength(1);
    // The figures every cell carries, as docs/how-the-lab-works.md names them ("The figures of a cell").
    const figures = `design scenario verdict ops ok errors retries sessions_broken session_state_lost writes_lost
      duplicate_writes revocations_lost availability recovery_ms p99_ms max_failed_attempt_ms instances_seen first_anomaly`;
    expect(Object.keys(report.cells[0])).toEqual(expect.arrayContaining(figures.split(/\s+/)));
    expect(report.cells[0]).toMatchObject({ design: "redis-session", scenario: "crash" });
    expect(["survived", "degraded"]).toContain(report.cells[0].verdict);
    expect(run.stderr).toContain("[ 1/1] redis-session × crash");
    expect(JSON.parse(readFileSync(path.join(reportsDir(), "survival.json"), "utf8")).seed).toBe(7);
    expect(readFileSync(path.join(reportsDir(), "survival.html"), "utf8")).toContain("<svg");
    await expectNothingLeft(pidLog);
  }, 60_000);

  it("gives one column with --scenario and one row with --design", async () => {
    const column = lastJson((await runLab(["--scenario", "baseline", "--json"])).stdout);
    expect(column.cells.map((cell: { design: string }) => cell.design)).toEqual([
      "stateless",
      "stateful",
      "memory-session",
      "redis-session",
      "cached-session",
      "jwt",
      "atomic-session",
    ]);
    const row = lastJson((await runLab(["--design", "stateless", "--json"])).stdout);
    expect(row.cells).toHaveLength(15);
    expect(
      row.cells
        .filter((cell: { verdict: string }) => cell.verdict === "n/a")
        .map((cell: { scenario: string }) => cell.scenario),
    ).toEqual([
      "store-restart",
      "store-restart-aof",
      "store-outage",
      "store-failover",
      "store-freeze",
      "store-freeze-safe",
      "db-restart",
      "db-outage",
    ]);
    expect(row.cells.find((cell: { verdict: string }) => cell.verdict === "n/a").reason).toEqual(expect.any(String));
  }, 120_000);

  it("runs a disagreeing cell again, alone, and exits 1 when it disagrees again (a planted wrong expectation)", async () => {
    const run = await startLab(["--design", "stateless", "--scenario", "baseline,crash", "--json"], undefined, {
      LAB_PLANT_EXPECTATION: "stateless:baseline=failed",
    }).done;
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /rerun {3}stateless × baseline disagreed \(expected failed, got survived; load average [\d.]+, the lab's event-loop delay [\d.]+ ms, [\d.]+ cores idle, a \/health round trip [\d.]+ ms\): running it again, alone/,
    );
    expect(run.stderr).toContain("rerun   stateless × baseline: survived, disagrees again");
    expect(run.stderr.replace(/\s+/g, " ")).toContain(
      "It disagreed on its rerun too (the first run read survived: expected failed, got survived",
    ); // --json: the text on stderr
    const report = lastJson(run.stdout);
    expect(report.cells[0]).toMatchObject({
      agrees: false,
      first_run: {
        verdict: "survived",
        note: "expected failed, got survived",
        load: {
          load_average: expect.any(Number),
          event_loop_delay_ms: expect.any(Number),
          idle_cores: expect.any(Number),
          reference_ms: expect.any(Number),
        },
      },
    });
    expect(report.cells[1]).toMatchObject({ scenario: "crash", agrees: true, load: expect.any(Object) });
    expect(report.cells[1].first_run).toBeUndefined(); // an agreeing cell runs once
    const html = readFileSync(path.join(reportsDir(), "survival.html"), "utf8");
    expect(html).toMatch(/>survived ⚠<\/a><\/td>/);
    expect(visible(html)).toContain(`stateless × baseline: ${report.cells[0].notes[0].text}`);
    expect(visible(html)).toContain(
      "It disagreed on its rerun too (the first run read survived: expected failed, got survived",
    );
    expect((await runLab(["--design", "stateless", "--scenario", "baseline"])).code).toBe(0); // without the plant: agrees, exit 0
  }, 60_000);

  it("reports a cell whose users could not register before the fault as not run, runs it again alone, and exits 2 (a planted registration failure)", async () => {
    const run = await startLab(["--design", "stateless", "--scenario", "baseline,crash", "--json"], undefined, {
      LAB_PLANT_REGISTRATION_FAILURE: "stateless:baseline",
    }).done;
    expect(run.code).toBe(2);
    const notSetUp =
      /8 of 8 users could not register and log in before the fault; first, user \d's registration got no answer within the 1 s deadline \(ECONNREFUSED; \d+ attempts from \d+ ms\), the last of 3 tries/;
    expect(run.stderr).toMatch(new RegExp(`\\] stateless × baseline: could not run: ${notSetUp.source}`));
    expect(run.stderr).toMatch(
      /rerun {3}stateless × baseline could not run \(8 of 8 users .*load average [\d.]+.*\): running it again, alone/,
    );
    expect(run.stderr).toMatch(/rerun {3}stateless × baseline: could not run again: 8 of 8 users/);
    expect(run.stderr.replace(/\s+/g, " ")).toMatch(
      /NOT RUN stateless × baseline: the lab could not run this cell: 8 of 8 users .* On its first run too \(the first run could not run: /,
    );
    expect(run.stderr).toContain("lab: a cell could not run, twice: stateless × baseline");
    const [baseline, crash] = lastJson(run.stdout).cells;
    expect(baseline).toMatchObject({
      verdict: "skipped",
      agrees: false,
      reason: expect.stringMatching(notSetUp),
      first_run: { crashed: true, note: expect.stringMatching(notSetUp), load: expect.any(Object) },
    });
    expect(crash).toMatchObject({ scenario: "crash", agrees: true }); // only the planted cell is touched
    expect(crash.first_run).toBeUndefined();
  }, 60_000);

  it("marks a cell that agreed on its rerun r, keeps its first run's first anomaly, and says so in the same words in every report", async () => {
    const run = await startLab(["--design", "stateful", "--scenario", "restart", "--json"], undefined, {
      LAB_PLANT_EXPECTATION: "stateful:restart=survived",
      LAB_PLANT_FIRST_RUN_ONLY: "1", // the rerun is judged against the real expectation, failed
    }).done;
    expect(run.code).toBe(0);
    const cell = lastJson(run.stdout).cells[0];
    expect(cell).toMatchObject({ verdict: "failed", agrees: true });
    expect(cell.first_run).toMatchObject({
      verdict: "failed",
      first_anomaly: { status: 401, expected: expect.stringContaining("to be accepted") },
    });
    expect(cell.notes).toEqual([{ kind: "rerun", text: expect.stringMatching(/^agreed on a rerun \(failed\); /) }]);
    const note = cell.notes[0].text;
    expect(note).toMatch(
      /the first run read failed \(at \d+ ms, user \d+'s [a-z ]+ on stateful-1 was answered 401; expected the session/,
    );
    const terminal = run.stderr.replace(/\s+/g, " "); // --json: the text on stderr
    expect(terminal).toMatch(/stateful FAILr /);
    expect(terminal).toContain(`note stateful × restart: ${note}`);
    const markdown = readFileSync(path.join(reportsDir(), "survival.md"), "utf8");
    expect(markdown).toContain("| stateful | failed r |");
    expect(markdown).toContain(`stateful × restart: ${note}`);
    const html = readFileSync(path.join(reportsDir(), "survival.html"), "utf8");
    expect(html).toMatch(/>failed r<\/a><\/td>/);
    expect(visible(html)).toContain(`stateful × restart: ${note}`);
    // Every anomaly of the failed cell listed, not only the first: as many as its figures count.
    const listed = /<ol class="anomalies">(.*?)<\/ol>/s.exec(html)?.[1].match(/<li>/g) ?? [];
    const counted = ["sessions_broken", "session_state_lost", "writes_lost", "duplicate_writes", "revocations_lost"]
      .map((figure) => cell[figure] as number)
      .reduce((sum, count) => sum + count, 0);
    expect(counted).toBeGreaterThan(1);
    expect(listed).toHaveLength(counted);
  }, 60_000);

  it("takes comma-separated lists for --design and --scenario, keeps the matrix's order, and runs as many cells at once as --jobs says", async () => {
    const run = lastJson(
      (await runLab(["--design", "stateful,stateless", "--scenario", "crash,baseline", "--jobs", "2", "--json"]))
        .stdout,
    );
    expect(run.cells.map((cell: { design: string; scenario: string }) => `${cell.design} ${cell.scenario}`)).toEqual([
      "stateless baseline",
      "stateless crash",
      "stateful baseline",
      "stateful crash",
    ]);
    expect(run.options).toMatchObject({ design: "stateless,stateful", scenario: "baseline,crash", jobs: 2 });
    expect(run.options.jobs_quiet).toBeUndefined(); // --jobs is obeyed, however busy the machine
    expect((await runLab(["--scenario", "baseline,teleport"])).stderr).toContain('unknown scenario "teleport"');
  }, 60_000);

  it("runs the phase-1 designs and marks the others skipped when redis-server is not installed", async () => {
    const child = spawn(process.execPath, [LAB, "--scenario", "baseline", "--json"], {
      env: { ...process.env, REDIS_SERVER_BIN: path.join(scratch, "no-such-redis-server") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => child.once("exit", resolve));
    expect(code).toBe(0);
    expect(stderr).toContain("redis-server not found: install it");
    const report = lastJson(stdout);
    expect(report.redis).toBeNull();
    const verdicts = Object.fromEntries(
      report.cells.map((cell: { design: string; verdict: string }) => [cell.design, cell.verdict]),
    );
    expect(verdicts).toEqual({
      stateless: "survived",
      stateful: "survived",
      "memory-session": "skipped",
      "redis-session": "skipped",
      "cached-session": "skipped",
      jwt: "skipped",
      "atomic-session": "skipped",
    });
    expect(report.cells[2].reason).toContain("redis-server is not installed");
  }, 60_000);

  it.each([
    [["--design", "telepathy"], "--design must be one of"],
    [["--jobs", "0"], "--jobs must be an integer"],
    [["--vus", "many"], "--vus must be an integer"],
    [["--colour"], "Unknown option"],
  ])("refuses %j with a usage line and exit code 2", async (args, message) => {
    const run = await runLab(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain("usage: npm run lab");
  });

  it.each([
    ["its own Redis and instances", ["--design", "redis-session", "--scenario", "store-outage"], "redis-session-1"],
    [
      "nginx in front of three instances",
      ["--design", "stateless", "--scenario", "rolling-deploy", "--lb", "nginx"],
      "nginx",
    ],
  ])(
    "stops every process it started (%s) when interrupted with SIGINT in the middle of a cell",
    async (_what, args, last) => {
      const pidLog = path.join(scratch, `sigint-${last}.pids`);
      const { child, done } = startLab(args, pidLog);
      await waitFor(() => loggedProcesses(pidLog).some((p) => p.name === last), 15_000);
      await new Promise((resolve) => setTimeout(resolve, 500)); // well inside the cell
      child.kill("SIGINT");
      const run = await done;
      expect(run.code).toBe(130);
      expect(run.stderr).toContain("SIGINT: stopping every process this run started");
      await expectNothingLeft(pidLog);
    },
    60_000,
  );

  it("stops all six processes of a replicated Redis, the frozen primary too, when interrupted with SIGINT during a freeze", async () => {
    const pidLog = path.join(scratch, "sigint-freeze.pids");
    const { child, done } = startLab(["--design", "redis-session", "--scenario", "store-freeze"], pidLog);
    // A frozen process is in state T (stopped) in /proc/<pid>/stat.
    const state = (pid: number) => {
      try {
        return /^\d+ \(.*\) (\w) /.exec(readFileSync(`/proc/${pid}/stat`, "utf8"))?.[1];
      } catch {
        return undefined; // gone meanwhile
      }
    };
    const frozen = () => loggedProcesses(pidLog).some((p) => state(p.pid) === "T");
    await waitFor(frozen, 30_000);
    child.kill("SIGINT");
    const run = await done;
    expect(run.code).toBe(130);
    expect(loggedProcesses(pidLog).filter((p) => /^(redis|sentinel)-\d$/.test(p.name)).length).toBeGreaterThanOrEqual(
      6,
    );
    await expectNothingLeft(pidLog);
  }, 60_000);

  it("after being killed with SIGKILL, its servers exit on their own and the next run stops its Redis and PostgreSQL", async () => {
    const pidLog = path.join(scratch, "sigkill.pids");
    const { child, done } = startLab(["--design", "redis-session", "--scenario", "concurrent"], pidLog);
    await waitFor(() => loggedProcesses(pidLog).some((p) => p.name.startsWith("redis-session")), 15_000);
    child.kill("SIGKILL");
    await done;
    // Orphans: nothing told them the lab died.
    const orphans = loggedProcesses(pidLog).filter(
      (p) => ["redis-server", "postgres"].includes(p.name) && isAlive(p.pid),
    );
    expect(orphans.map((p) => p.name).sort()).toEqual(["postgres", "redis-server"]);
    const next = await runLab(["--design", "stateless", "--scenario", "baseline"]);
    expect(next.code).toBe(0);
    for (const p of orphans) expect(next.stderr).toContain(`stopped ${p.name} (pid ${p.pid}) left by an earlier run`);
    await expectNothingLeft(pidLog);
  }, 60_000);
});
