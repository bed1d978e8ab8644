// Process orchestration for the lab: server instances started as `node` on the compiled
// JavaScript (never through npm, npx or a TypeScript loader, so a signal reaches the process
// that listens), stopped by their own pid, and started again on the same port; pid files under
// .lab/run/<run-id>/ let the next run clean up after a killed lab (docs/how-the-lab-works.md,
// "Processes and clean-up").

import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { Design, isPhase1 } from "./scenarios";

/** The folder with package.json, whether this runs compiled (dist/scripts) or under ts-jest. */
function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

export const REPO_ROOT = findRepoRoot(__dirname);

/** Whether a process with this pid still exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A path as a person would type it from here: relative inside the current folder, whole outside it. */
export function shownPath(target: string): string {
  const relative = path.relative(process.cwd(), target);
  return relative.startsWith("..") || path.isAbsolute(relative) ? target : relative || ".";
}

/** Where the lab and the bench write their reports: reports/, or LAB_REPORTS_DIR (the test suite's own throw-away folder). */
export function reportsDir(): string {
  return process.env.LAB_REPORTS_DIR ? path.resolve(process.env.LAB_REPORTS_DIR) : path.join(REPO_ROOT, "reports");
}
const DIST = path.join(REPO_ROOT, "dist");
export const RUNS_DIR = path.join(REPO_ROOT, ".lab", "run");
const READY_TIMEOUT_MS = 10_000;

/** The node arguments that run a design's server. */
export function serverArguments(design: Design): string[] {
  const script = isPhase1(design)
    ? path.join(DIST, "phase1-mockup", "src", `${design}-server.js`)
    : path.join(DIST, "phase2-production", "src", "server.js");
  if (!existsSync(script)) throw new Error(`${script} is missing: run npm run build first`);
  return isPhase1(design) ? [script] : [script, "--design", design];
}

/** A port below Linux's ephemeral range (32768+), so outgoing connections cannot take it. */
export function randomPort(): number {
  return 20000 + Math.floor(Math.random() * 12000);
}

export interface InstanceOptions {
  design: Design;
  /** The node arguments to run instead of the design's server (the benchmark's ceilings). */
  args?: string[];
  serverId: string;
  env: Record<string, string>;
  /** Where the instance's output goes. */
  logFile: string;
}

const liveInstances = new Set<Instance>();

/**
 * For the no-orphans tests: with LAB_PID_LOG set, every process the lab starts is appended
 * to that file as "pid port name", so a test can check afterwards that none is alive.
 */
export function recordPid(pid: number | undefined, port: number, name: string): void {
  if (pid && process.env.LAB_PID_LOG) appendFileSync(process.env.LAB_PID_LOG, `${pid} ${port} ${name}\n`);
}

/** SIGKILL every instance still running (the lab was interrupted). */
export function killAllInstances(): void {
  for (const instance of liveInstances) {
    if (instance.pid && instance.running) process.kill(instance.pid, "SIGKILL");
  }
}

/** One server instance: a real process on a fixed port, that can be stopped and started again. */
export class Instance {
  port = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(readonly options: InstanceOptions) {}

  get serverId(): string {
    return this.options.serverId;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process (on a free port the first time, on the same port after) and waits for /ready. */
  async start(): Promise<void> {
    const samePort = this.port !== 0;
    for (let attempt = 1; ; attempt += 1) {
      const port = samePort ? this.port : randomPort();
      if (await this.launch(port)) {
        this.port = port;
        await this.waitUntilReady();
        return;
      }
      if (attempt >= 20) throw new Error(`${this.serverId} could not listen (port ${port} taken ${attempt} times)`);
      if (samePort) await sleep(100);
    }
  }

  /** Spawns on `port`; false when the port turned out to be taken. */
  private launch(port: number): Promise<boolean> {
    const log = openSync(this.options.logFile, "a");
    const child = spawn(process.execPath, this.options.args ?? serverArguments(this.options.design), {
      env: { ...process.env, ...this.options.env, PORT: String(port), HOST: "127.0.0.1", SERVER_ID: this.serverId },
      // The IPC channel is the lifeline: when the lab dies, the server sees `disconnect` and exits.
      stdio: ["ignore", log, log, "ipc"],
    });
    closeSync(log);
    this.child = child;
    liveInstances.add(this);
    recordPid(child.pid, port, this.serverId);
    this.exited = new Promise((resolve) =>
      child.once("exit", () => {
        liveInstances.delete(this);
        resolve();
      }),
    );
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`${this.serverId} did not listen within ${READY_TIMEOUT_MS} ms (see ${this.options.logFile})`));
      }, READY_TIMEOUT_MS);
      child.on("message", (message: { type?: string }) => {
        if (message?.type !== "listening") return;
        clearTimeout(timer);
        resolve(true);
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        const output = existsSync(this.options.logFile) ? readFileSync(this.options.logFile, "utf8") : "";
        if (output.includes(`port ${port} is already in use`)) resolve(false);
        else reject(new Error(`${this.serverId} exited (${code}) while starting:\n${output.slice(-2000)}`));
      });
    });
  }

  private async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (await isReady(this.url)) return;
      await sleep(20);
    }
    throw new Error(`${this.serverId} did not become ready within ${READY_TIMEOUT_MS} ms`);
  }

  /** SIGTERM: the server drains its requests and exits. */
  terminate(): Promise<void> {
    return this.signal("SIGTERM");
  }

  /** SIGKILL: the process dies at once, mid-request if need be. */
  kill(): Promise<void> {
    return this.signal("SIGKILL");
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    if (!this.running || !this.child?.pid) return;
    process.kill(this.child.pid, signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), 12_000)));
    const outcome = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (outcome === "late") {
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }
}

export async function isReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** True when something accepts TCP connections on a loopback port. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A fresh run directory under .lab/run/ for this lab run's pid files, logs and data. */
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
    return lsof.stdout.split("\n").find((line) => line.startsWith("n"))?.slice(1);
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
        process.kill(pid, "SIGTERM");
        const deadline = Date.now() + 2000;
        while (commandLineOf(pid) !== undefined && Date.now() < deadline) spawnSync("sleep", ["0.05"]);
        if (commandLineOf(pid) !== undefined) process.kill(pid, "SIGKILL");
        stopped.push(`stopped ${path.basename(pidFile, ".pid")} (pid ${pid}) left by an earlier run in ${path.relative(REPO_ROOT, runDir)}`);
      } catch {
        // already gone
      }
    }
    rmSync(runDir, { recursive: true, force: true });
  }
  return stopped;
}
