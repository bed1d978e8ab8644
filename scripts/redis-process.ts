// Starts, stops, kills and restarts real `redis-server` processes for the tests and the lab:
// each on a free loopback port with a throw-away directory, never the default port 6379 and
// never a shared instance (docs/how-the-lab-works.md, "Processes and clean-up"). Every Redis
// started here is remembered, so stopAllRedis() can stop whatever is still running when a test
// file or the lab ends.

import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { appendFileSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

export interface RedisOptions {
  /** `--appendonly yes`: every write is logged, so a restart keeps the data. */
  appendonly?: boolean;
  /** A directory to keep; by default a throw-away one that stopAllRedis() removes. */
  dir?: string;
  /** Where to write the pid after every start, so a later lab run can stop an orphan. */
  pidFile?: string;
}

export interface RedisProcess {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** SIGTERM: Redis finishes writing its log (with appendonly) and exits. */
  stop(): Promise<void>;
  /** SIGKILL: Redis dies at once, whatever it was doing. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory. */
  start(): Promise<void>;
  /** Stops it and removes its directory (unless the caller gave one). */
  dispose(): Promise<void>;
}

let cachedBinary: string | null | undefined;

/** The path of redis-server, or null when it is not installed. */
export function findRedisServer(): string | null {
  if (cachedBinary !== undefined) return cachedBinary;
  // REDIS_SERVER_BIN names one particular build; when set, it is the only one tried.
  const candidates = process.env.REDIS_SERVER_BIN
    ? [process.env.REDIS_SERVER_BIN]
    : ["redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server", "/opt/homebrew/bin/redis-server"];
  cachedBinary = null;
  for (const candidate of candidates) {
    if (!candidate) continue;
    const probe = spawnSync(candidate, ["--version"], { encoding: "utf8" });
    if (probe.status === 0) {
      cachedBinary = candidate;
      break;
    }
  }
  return cachedBinary;
}

export const REDIS_MISSING_MESSAGE =
  "redis-server not found: install it (npm run setup, or apt install redis-server, or brew install redis)";

const started = new Set<ManagedRedis>();

/** True when something on `port` answers a Redis PING with PONG. */
export function answersPing(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (chunk) => done(chunk.toString().startsWith("+PONG")));
    socket.once("error", () => done(false));
  });
}

/** Below 32768, so that an outgoing connection cannot take the port between two starts. */
function randomPort(): number {
  return 20000 + Math.floor(Math.random() * 12000);
}

class ManagedRedis implements RedisProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  port = 0;

  constructor(
    readonly dir: string,
    private readonly appendonly: boolean,
    private readonly ownsDir: boolean,
    private readonly pidFile?: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const samePort = this.port !== 0;
    for (let attempt = 1; ; attempt += 1) {
      const port = samePort ? this.port : randomPort();
      const outcome = await this.launch(port);
      if (outcome === "ready") {
        this.port = port;
        if (this.pidFile && this.child?.pid) writeFileSync(this.pidFile, `${this.child.pid}\n`);
        if (this.child?.pid && process.env.LAB_PID_LOG) appendFileSync(process.env.LAB_PID_LOG, `${this.child.pid} ${port} redis-server\n`);
        return;
      }
      if (attempt >= 20) throw new Error(`redis-server could not listen after ${attempt} tries (last port ${port})`);
      await new Promise((resolve) => setTimeout(resolve, samePort ? 100 : 0));
    }
  }

  private async launch(port: number): Promise<"ready" | "port-taken"> {
    const binary = findRedisServer();
    if (!binary) throw new Error(REDIS_MISSING_MESSAGE);
    const args = ["--bind", "127.0.0.1", "--port", String(port), "--dir", this.dir, "--save", ""];
    args.push("--appendonly", this.appendonly ? "yes" : "no");
    // Its log goes to a file, not a pipe to us: Redis must not depend on our process staying alive
    // (a lab killed with SIGKILL leaves it running, and the next run stops it by its pid file).
    const logFile = path.join(this.dir, "redis-server.log");
    const log = openSync(logFile, "a");
    const child = spawn(binary, args, { stdio: ["ignore", log, log] });
    closeSync(log);
    this.child = child;
    let exited = false;
    this.exited = new Promise((resolve) =>
      child.once("exit", () => {
        exited = true;
        resolve();
      }),
    );
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exited) {
        const output = readFileSync(logFile, "utf8");
        if (/address already in use/i.test(output)) return "port-taken";
        throw new Error(`redis-server exited while starting:\n${output.slice(-2000)}`);
      }
      if (await answersPing(port)) return "ready";
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    child.kill("SIGKILL");
    throw new Error(`redis-server did not start within ${START_TIMEOUT_MS} ms (see ${logFile})`);
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    if (!this.running || !this.child) return;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS)));
    const outcome = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }

  stop(): Promise<void> {
    return this.signal("SIGTERM");
  }

  kill(): Promise<void> {
    return this.signal("SIGKILL");
  }

  async dispose(): Promise<void> {
    await this.kill();
    started.delete(this);
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisProcess> {
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), "lab-redis-"));
  const redis = new ManagedRedis(dir, options.appendonly ?? false, options.dir === undefined, options.pidFile);
  started.add(redis);
  try {
    await redis.start();
  } catch (error) {
    await redis.dispose();
    throw error;
  }
  return redis;
}

/** Stops every Redis started in this process and removes their throw-away directories. */
export async function stopAllRedis(): Promise<void> {
  await Promise.all([...started].map((redis) => redis.dispose()));
}
