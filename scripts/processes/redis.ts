// Real `redis-server` processes for the tests and the lab: each on a free loopback port with a
// throw-away directory, never the default port 6379 and never a shared instance
// (docs/how-the-lab-works.md, "Processes and clean-up"). The same lifecycle as every other
// process the lab starts; stopEverything() stops whatever is still running when a test file
// or the lab ends.

import { spawnSync } from "node:child_process";
import net from "node:net";
import { Command, ManagedProcess, Part, throwAwayDir } from "./managed-process";

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

/** The installed redis-server's version ("7.0.15"), or null when there is none. */
export function redisVersion(): string | null {
  const binary = findRedisServer();
  if (!binary) return null;
  const output = spawnSync(binary, ["--version"], { encoding: "utf8" }).stdout;
  return /v=([\d.]+)/.exec(output)?.[1] ?? output.trim();
}

export const REDIS_MISSING_MESSAGE =
  "redis-server not found: install it (npm run setup, or apt install redis-server, or brew install redis)";

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

export interface RedisOptions {
  /** `--appendonly yes`: every write is logged, so a restart keeps the data. */
  appendonly?: boolean;
  /** Its directory (data, log, pid file); by default a throw-away one that stopEverything() removes. */
  dir?: string;
  /** The name of its log and pid files (a replicated set has several in one run). */
  name?: string;
  /** What its role adds: `--replicaof`, replication settings (replicated-redis.ts). */
  args?: string[];
}

/** One redis-server: stop() is SIGTERM (it finishes its log), kill() SIGKILL, start() again on the same port and directory. */
export class RedisServer extends ManagedProcess {
  constructor(
    dir: string,
    readonly appendonly: boolean,
    name = "redis-server",
    private readonly args: string[] = [],
  ) {
    super(name, dir);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  protected command(port: number): Command {
    const binary = findRedisServer();
    if (!binary) throw new Error(REDIS_MISSING_MESSAGE);
    // Loopback only, no snapshots; the scenario decides on the append-only log.
    const args = [
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--dir",
      this.dir,
      "--save",
      "",
      "--appendonly",
      this.appendonly ? "yes" : "no",
      ...this.args,
    ];
    return { file: binary, args };
  }

  protected ready(port: number): Promise<boolean> {
    return answersPing(port);
  }

  protected portTaken(output: string): boolean {
    return /address already in use/i.test(output);
  }
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const redis = new RedisServer(
    options.dir ?? throwAwayDir("lab-redis-"),
    options.appendonly ?? false,
    options.name,
    options.args,
  );
  await redis.start();
  return redis;
}

/**
 * Several redis-server processes started and stopped together (a replicated set, a Cluster): one
 * part for the run to stop, running while any of its processes is.
 */
export abstract class RedisGroup implements Part {
  abstract readonly name: string;
  readonly pid = undefined;
  /** The data nodes. */
  readonly nodes: RedisServer[] = [];

  /** Every process of the group (the replicated set adds its Sentinels). */
  protected members(): Part[] {
    return this.nodes;
  }

  get running(): boolean {
    return this.members().some((member) => member.running);
  }

  abstract end(): Promise<void>;
}
