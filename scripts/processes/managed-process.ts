// One lifecycle for every process the lab, the bench and the demos start (a server instance,
// redis-server, nginx, HAProxy): start on a free loopback port (the same port again after a
// stop), wait until ready, signal, stop (SIGTERM), kill (SIGKILL), its pid logged once. A Parts
// list stops everything a run started, the in-process built-in balancer too, with one call,
// last started first (docs/how-the-lab-works.md, "Processes and clean-up").

import { ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/** A server may take a while to listen, then a while for /ready (its Redis connection). */
const START_TIMEOUT_MS = 20_000;
/** A server drains for at most 10 s; past this it is killed. */
const STOP_TIMEOUT_MS = 12_000;
const PORT_ATTEMPTS = 20;

/** Everything a run starts, processes or not: what a Parts list can stop. */
export interface Part {
  readonly name: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** How the run ends it: SIGKILL for most; SIGTERM where a kill would orphan children (nginx's workers). */
  end(): Promise<void>;
}

/** A port below Linux's ephemeral range (32768+), so that an outgoing connection cannot take it between two starts. */
export function randomPort(): number {
  return 20000 + Math.floor(Math.random() * 12000);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether a process with this pid still exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
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

/** True when a server's /ready answers 200. */
export async function isReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

const live = new Set<ManagedProcess>();
/** Set while stopEverything() runs: a start begun meanwhile (a cell's Redis on Ctrl-C) is refused, not orphaned. */
let stopping = 0;

/** What a subclass spawns on a port. */
export interface Command {
  file: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** An IPC channel: the child's lifeline (it exits when we die) and its "listening" message. */
  ipc?: boolean;
  /** Run as this user and group (PostgreSQL refuses to run as root). */
  uid?: number;
  gid?: number;
  /**
   * Every signal reaches its child processes too: PostgreSQL forks a process per connection,
   * each in a session of its own, and freezing or killing only the first would leave the
   * others serving.
   */
  withChildren?: boolean;
}

/**
 * A real process on a loopback port. Subclasses say what to spawn, how to tell that it is
 * ready, and how its log says that the port was taken; the rest is the same for all.
 */
export abstract class ManagedProcess implements Part {
  port = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** SIGKILL by default: at the end of a cell nothing is left to finish, and a kill is quickest. */
  protected endSignal: NodeJS.Signals = "SIGKILL";
  /** Set from the command: every signal goes to its children too. */
  private withChildren = false;

  constructor(
    readonly name: string,
    readonly dir: string, // where its log and its pid file go
  ) {}

  protected abstract command(port: number): Command;
  /** Whether it serves on `port` yet. */
  protected abstract ready(port: number): Promise<boolean>;
  /** Whether its output says that `port` was taken by someone else. */
  protected abstract portTaken(output: string, port: number): boolean;
  /** Called with each IPC message (the servers' "listening"). */
  protected onMessage(_message: unknown): void {}

  /** Its name as a file name ("node:http" and "stateless (cost 14)" are names of the bench's). */
  private get fileStem(): string {
    return this.name.replace(/[^a-z0-9+-]/gi, "_");
  }

  get logFile(): string {
    return path.join(this.dir, `${this.fileStem}.log`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Its output so far (the log file, and any other a subclass names). */
  protected output(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, "utf8") : "";
  }

  /** Starts it (on a free port the first time, on the same port after) and waits until it is ready. */
  async start(): Promise<void> {
    if (this.running) return;
    const samePort = this.port !== 0;
    for (let attempt = 1; ; attempt += 1) {
      const port = samePort ? this.port : randomPort();
      if (await this.launch(port)) {
        this.port = port;
        return;
      }
      if (attempt >= PORT_ATTEMPTS)
        throw new Error(`${this.name} could not listen (port ${port} taken ${attempt} times)`);
      if (samePort) await sleep(100);
    }
  }

  /** Spawns on `port` and waits until ready; false when the port turned out to be taken. */
  private async launch(port: number): Promise<boolean> {
    if (stopping > 0) throw new Error(`${this.name} was not started: every process of this run is being stopped`);
    const { file, args, env, ipc, uid, gid, withChildren } = this.command(port);
    // Its output goes to a file, not a pipe to us: an external process must not depend on our
    // staying alive (a lab killed with SIGKILL leaves Redis running; the next run stops it).
    const log = openSync(this.logFile, "a");
    const child = spawn(file, args, {
      env: env ?? process.env,
      stdio: ["ignore", log, log, ...(ipc ? ["ipc" as const] : [])],
      ...(uid !== undefined && { uid }),
      ...(gid !== undefined && { gid }),
    });
    closeSync(log);
    this.child = child;
    this.withChildren = withChildren ?? false;
    live.add(this);
    this.logPid(port); // at once: a run killed while this one starts must still find its pid
    let gone = false;
    this.exited = new Promise((resolve) =>
      child.once("exit", () => {
        gone = true;
        live.delete(this);
        resolve();
      }),
    );
    child.on("message", (message) => this.onMessage(message));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (gone) {
        const output = this.output();
        if (this.portTaken(output, port)) return false;
        throw new Error(
          `${this.name} exited (${child.exitCode ?? child.signalCode}) while starting:\n${output.slice(-2000)}`,
        );
      }
      if (await this.ready(port)) return true;
      await sleep(20);
    }
    this.send("SIGKILL");
    await this.exited;
    throw new Error(`${this.name} was not ready within ${START_TIMEOUT_MS} ms (see ${this.logFile})`);
  }

  /**
   * The pid, written once per spawn in its own folder (so that a later run can stop it if this
   * run is killed) and, for the no-orphans tests, appended to LAB_PID_LOG as "pid port name".
   */
  private logPid(port: number): void {
    const pid = this.child?.pid;
    if (!pid) return;
    writeFileSync(path.join(this.dir, `${this.fileStem}.pid`), `${pid}\n`);
    if (process.env.LAB_PID_LOG) appendFileSync(process.env.LAB_PID_LOG, `${pid} ${port} ${this.name}\n`);
  }

  /** Sends `signal` and waits for the exit; a process still there after 12 s is killed. */
  async signal(signal: NodeJS.Signals): Promise<void> {
    if (!this.running || !this.child) return;
    this.send(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), STOP_TIMEOUT_MS)));
    const outcome = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (outcome === "late") {
      this.send("SIGKILL");
      await this.exited;
    }
  }

  /**
   * To the process, and to its children when it has them: the parent first (a frozen or dead
   * parent forks no new child meanwhile), except SIGCONT, which wakes the children first.
   */
  private send(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (!pid) return;
    const children = this.withChildren ? childrenOf(pid) : [];
    const order = signal === "SIGCONT" ? [...children, pid] : [pid, ...children];
    for (const each of order) {
      try {
        process.kill(each, signal);
      } catch {
        // already gone
      }
    }
  }

  /** SIGSTOP: the process stalls where it is, its sockets open (Jepsen's "pause"); resume() undoes it. */
  freeze(): void {
    if (this.running) this.send("SIGSTOP");
  }

  /** SIGCONT: a frozen process goes on as if nothing had happened. */
  resume(): void {
    if (this.running) this.send("SIGCONT");
  }

  /** SIGTERM: it finishes what it was doing and exits. */
  stop(): Promise<void> {
    return this.signal("SIGTERM");
  }

  /** SIGKILL: it dies at once, mid-request if need be. */
  kill(): Promise<void> {
    return this.signal("SIGKILL");
  }

  end(): Promise<void> {
    return this.signal(this.endSignal);
  }
}

/**
 * The pids whose parent is `pid`. On Linux, one read of /proc (the kernel's own list): pgrep
 * would scan every process, and as a synchronous child process it stalled the lab's event loop,
 * and with it every other cell's users, for 100 to 360 ms at a time (measured). pgrep -P on macOS.
 */
function childrenOf(pid: number): number[] {
  let listed: string;
  try {
    listed = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").replaceAll(" ", "\n");
  } catch {
    listed = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).stdout ?? "";
  }
  return listed
    .split("\n")
    .map(Number)
    .filter((each) => Number.isInteger(each) && each > 0);
}

const throwAwayDirs = new Set<string>();

/** A fresh folder under the system's temporary folder that stopEverything() removes. */
export function throwAwayDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  throwAwayDirs.add(dir);
  return dir;
}

/**
 * Stops every process started here that is still running and removes the throw-away folders:
 * for Ctrl-C, for a run that failed halfway, and for a test file's afterAll.
 */
export async function stopEverything(): Promise<void> {
  stopping += 1;
  try {
    // Again while any is left: one that was starting as the stop began is ended too.
    for (let pass = 0; live.size > 0 && pass < 3; pass += 1) await Promise.all([...live].map((part) => part.end()));
  } finally {
    stopping -= 1;
  }
  for (const dir of throwAwayDirs) rmSync(dir, { recursive: true, force: true });
  throwAwayDirs.clear();
}

/** What one run started, in order: stop() ends them all, the last started first. */
export class Parts {
  private readonly parts: Part[] = [];

  add<T extends Part>(part: T): T {
    this.parts.push(part);
    return part;
  }

  async stop(): Promise<void> {
    for (const part of this.parts.splice(0).reverse()) await part.end().catch(() => undefined);
  }
}
