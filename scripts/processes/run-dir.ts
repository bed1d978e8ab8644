// Where a run keeps its things: the repository's root, the reports folder, and a run
// directory under .lab/run/<run-id>/ for the pid files, logs and data of one lab, bench,
// cluster or demo. The next run stops what a killed run left behind, by those pid files
// (docs/how-the-lab-works.md, "Processes and clean-up").

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** The folder with package.json, whether this runs compiled (dist/scripts) or under ts-jest. */
function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

export const REPO_ROOT = findRepoRoot(__dirname);

/** A path as a person would type it from here: relative inside the current folder, whole outside it. */
export function shownPath(target: string): string {
  const relative = path.relative(process.cwd(), target);
  return relative.startsWith("..") || path.isAbsolute(relative) ? target : relative || ".";
}

/** Where the lab and the bench write their reports: reports/, or LAB_REPORTS_DIR (the test suite's own throw-away folder). */
export function reportsDir(): string {
  return process.env.LAB_REPORTS_DIR ? path.resolve(process.env.LAB_REPORTS_DIR) : path.join(REPO_ROOT, "reports");
}

/**
 * True when we are root and the `postgres` user, which runs PostgreSQL for us then, cannot
 * enter the repository (a clone under /root, 0700): its data folders must then live elsewhere.
 */
function postgresLockedOut(): boolean {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return false;
  const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout?.trim());
  const [uid, gid] = [id("-u"), id("-g")];
  if (!Number.isInteger(uid) || uid <= 0 || !Number.isInteger(gid)) return false; // no such user: no PostgreSQL either
  return spawnSync("test", ["-x", REPO_ROOT], { uid, gid }).status !== 0;
}

/**
 * Where run directories go: .lab/run/ in the repository, or, when PostgreSQL's user could not
 * reach that, a folder of this repository's own in the system's temporary folder.
 */
const lockedOut = postgresLockedOut();
const repoId = createHash("sha256").update(REPO_ROOT).digest("hex").slice(0, 12);
export const RUNS_DIR = lockedOut ? path.join(os.tmpdir(), `lab-runs-${repoId}`) : path.join(REPO_ROOT, ".lab", "run");

/** Where `npm run db:start` keeps its PostgreSQL between runs: data/postgres/, or the same fallback as RUNS_DIR. */
export function postgresDataHome(): string {
  return lockedOut ? path.join(os.tmpdir(), `lab-db-${repoId}`) : path.join(REPO_ROOT, "data", "postgres");
}

/** A fresh run directory under RUNS_DIR (.lab/run/) for this run's pid files, logs and data. */
export function makeRunDir(): string {
  const dir = path.join(RUNS_DIR, `${new Date().toISOString().replace(/[:.]/g, "-")}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The working directory of a live process (Redis moves into its --dir), or undefined. */
function workingDirectoryOf(pid: number): string | undefined {
  try {
    if (existsSync(`/proc/${pid}`)) return readlinkSync(`/proc/${pid}/cwd`);
    const lsof = spawnSync("lsof", ["-a", "-p", String(pid), "-d", "cwd", "-Fn"], { encoding: "utf8" });
    return lsof.stdout
      .split("\n")
      .find((line) => line.startsWith("n"))
      ?.slice(1);
  } catch {
    return undefined;
  }
}

/** The command line of a live process, or undefined when there is none with that pid. */
function commandLineOf(pid: number): string | undefined {
  try {
    if (existsSync(`/proc/${pid}/cmdline`)) return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
    const ps = spawnSync("ps", ["-o", "command=", "-p", String(pid)], { encoding: "utf8" });
    return ps.status === 0 ? ps.stdout.trim() || undefined : undefined;
  } catch {
    return undefined;
  }
}

/** The pid files in a run directory: its own, its cells', and their balancers' (three levels). */
function pidFilesUnder(dir: string, depth = 3): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isFile() && entry.name.endsWith(".pid")) found.push(full);
    if (entry.isDirectory() && depth > 1) found.push(...pidFilesUnder(full, depth - 1));
  }
  return found;
}

/**
 * Stops what an earlier, killed lab run left behind: for every pid file under .lab/run/, the
 * process is signalled only if its command line still names that run's directory (a pid
 * reused by some unrelated process is left alone). Returns one line per process stopped.
 */
export function cleanUpEarlierRuns(except?: string): string[] {
  if (!existsSync(RUNS_DIR)) return [];
  const stopped: string[] = [];
  for (const run of readdirSync(RUNS_DIR)) {
    const runDir = path.join(RUNS_DIR, run);
    if (runDir === except) continue;
    // A run directory ends with its lab's pid: leave alone a lab that is still running.
    const labPid = Number(/-(\d+)$/.exec(run)?.[1]);
    if (labPid && commandLineOf(labPid)?.includes("node")) continue; // a lab, cluster or demo still running
    for (const pidFile of pidFilesUnder(runDir)) {
      const pid = Number(readFileSync(pidFile, "utf8").trim());
      if (!Number.isInteger(pid) || pid <= 0) continue;
      // Ours only if it still points into that run's directory (a reused pid is someone else's).
      const ours = commandLineOf(pid)?.includes(runDir) || workingDirectoryOf(pid)?.startsWith(runDir);
      if (!ours) continue;
      try {
        // SIGTERM: an nginx master then stops its workers too (a SIGKILL would orphan them).
        // PostgreSQL reads SIGTERM as "wait for every client to leave": SIGINT is its fast stop.
        const postgres = /\/postgres\b/.test(commandLineOf(pid) ?? "");
        process.kill(pid, postgres ? "SIGINT" : "SIGTERM");
        const deadline = Date.now() + 2000;
        while (commandLineOf(pid) !== undefined && Date.now() < deadline) spawnSync("sleep", ["0.05"]);
        if (commandLineOf(pid) !== undefined) process.kill(pid, "SIGKILL");
        stopped.push(
          `stopped ${path.basename(pidFile, ".pid")} (pid ${pid}) left by an earlier run in ${path.relative(REPO_ROOT, runDir)}`,
        );
      } catch {
        // already gone
      }
    }
    rmSync(runDir, { recursive: true, force: true });
  }
  return stopped;
}
