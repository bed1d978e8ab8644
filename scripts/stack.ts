// Starts a small stack for a person to look at: Redis (the one at REDIS_URL if set, else our
// own), N instances of a design, and optionally the built-in balancer. Used by
// `npm run cluster` and the narrated demos (docs/instructor-guide.md); stops everything it
// started on exit and Ctrl-C.

import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { Balancer, Strategy } from "./balancer";
import { Instance, killAllInstances, makeRunDir } from "./processes";
import { findRedisServer, REDIS_MISSING_MESSAGE, RedisProcess, startRedis, stopAllRedis } from "./redis-process";
import { Design, isPhase1 } from "./scenarios";

export interface Stack {
  instances: Instance[];
  redis?: RedisProcess;
  redisUrl?: string;
  balancer?: Balancer;
  balancerUrl?: string;
  stop(): Promise<void>;
}

export interface StackOptions {
  design: Design;
  instances: number;
  balancer?: Strategy;
  /** A port to try first for the balancer (easy to type in class); any free one if taken. */
  balancerPort?: number;
}

const DEMO_ENV = { PASSWORD_HASH_COST: "10", RATE_LIMIT_PER_MINUTE: "100000", SESSION_SECRET: "lab-demo-secret-shared-by-every-instance-0123456789", LOG_LEVEL: "warn" };

export async function startStack(options: StackOptions): Promise<Stack> {
  const runDir = makeRunDir();
  let redis: RedisProcess | undefined;
  let redisUrl: string | undefined;
  if (!isPhase1(options.design)) {
    if (process.env.REDIS_URL) {
      redisUrl = process.env.REDIS_URL;
    } else {
      if (!findRedisServer()) throw new Error(`${REDIS_MISSING_MESSAGE}, or set REDIS_URL to a Redis you run`);
      mkdirSync(path.join(runDir, "redis"), { recursive: true });
      redis = await startRedis({ dir: path.join(runDir, "redis"), pidFile: path.join(runDir, "redis-server.pid") });
      redisUrl = redis.url;
    }
  }
  const env: Record<string, string> = { ...DEMO_ENV, DATA_DIR: path.join(runDir, "data"), KEY_PREFIX: `demo-${process.pid}:`, ...(redisUrl ? { REDIS_URL: redisUrl } : {}) };
  const instances = Array.from({ length: options.instances }, (_, i) => new Instance({ design: options.design, serverId: `${options.design}-${i + 1}`, env, logFile: path.join(runDir, `${options.design}-${i + 1}.log`) }));
  let balancer: Balancer | undefined;
  const stop = async () => {
    await balancer?.close();
    await Promise.all(instances.map((instance) => instance.terminate()));
    await redis?.dispose();
    rmSync(runDir, { recursive: true, force: true });
  };
  try {
    await Promise.all(instances.map((instance) => instance.start()));
    let balancerUrl: string | undefined;
    if (options.balancer) {
      balancer = new Balancer(instances.map((instance) => ({ id: instance.serverId, url: instance.url })), options.balancer);
      const port = await balancer.listen(options.balancerPort ?? 0).catch(() => (balancer as Balancer).listen(0));
      balancerUrl = `http://127.0.0.1:${port}`;
    }
    return { instances, redis, redisUrl, balancer, balancerUrl, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The demos and the cluster send POSIX signals: on native Windows, say so in one line and stop. */
export function refuseNativeWindows(script: string): void {
  if (process.platform !== "win32") return;
  console.error(`${script} sends POSIX signals: run it on Linux, macOS, or Windows through WSL2.`);
  process.exit(1);
}

/** On Ctrl-C or SIGTERM: stop every process this script started, then exit. */
export function stopOnSignals(stack: () => Stack | undefined, say: (line: string) => void): void {
  const handler = (signal: string) => {
    say(`\n${signal}: stopping everything this script started`);
    const current = stack();
    const stopping = current ? current.stop() : Promise.resolve();
    void stopping.catch(() => killAllInstances()).finally(() => void stopAllRedis().finally(() => process.exit(130)));
  };
  process.once("SIGINT", () => handler("SIGINT"));
  process.once("SIGTERM", () => handler("SIGTERM"));
}
