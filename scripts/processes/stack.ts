// Starts a small stack for a person to look at: Redis (the one at REDIS_URL if set, else our
// own; or a replicated one, a primary, two replicas and three Sentinels; or a Redis Cluster of
// three primaries and three replicas), N instances of a
// design, and optionally the built-in balancer. Used by
// `npm run cluster` and the narrated demos (docs/instructor-guide.md); stops everything it
// started on exit and Ctrl-C.

import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { Design, isPhase1 } from "../designs";
import { Balancer, Strategy } from "./builtin-balancer";
import { Parts, stopEverything } from "./managed-process";
import { findRedisServer, REDIS_MISSING_MESSAGE, RedisServer, startRedis } from "./redis";
import { RedisCluster, startRedisCluster } from "./redis-cluster";
import { ReplicatedRedis, startReplicatedRedis } from "./replicated-redis";
import { makeRunDir } from "./run-dir";
import { runSecret, SAFE_SETTINGS, SafeSetting, serverEnvironment } from "./server-env";
import { ServerInstance } from "./server-instance";

export interface Stack {
  instances: ServerInstance[];
  redis?: RedisServer;
  redisUrl?: string;
  replicated?: ReplicatedRedis;
  cluster?: RedisCluster;
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
  /** One Redis, or replicated with Sentinel ("sentinel-safe" adds the settings that close a frozen primary's window), or a Redis Cluster. */
  store?: "single" | "sentinel" | "sentinel-safe" | "cluster";
  /** With "sentinel-safe": which of the safe settings to apply (all three when not given), to try each alone. */
  safe?: readonly SafeSetting[];
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const runDir = makeRunDir();
  const parts = new Parts();
  const stop = async () => {
    await parts.stop();
    rmSync(runDir, { recursive: true, force: true });
  };
  try {
    let redis: RedisServer | undefined;
    let redisUrl: string | undefined;
    let replicated: ReplicatedRedis | undefined;
    let cluster: RedisCluster | undefined;
    const store = options.store ?? "single";
    const safe = store === "sentinel-safe" ? (options.safe ?? SAFE_SETTINGS) : [];
    if (!isPhase1(options.design) && store === "cluster") {
      if (!findRedisServer()) throw new Error(REDIS_MISSING_MESSAGE);
      cluster = parts.add(await startRedisCluster({ dir: runDir }));
    } else if (!isPhase1(options.design) && store !== "single") {
      if (!findRedisServer()) throw new Error(REDIS_MISSING_MESSAGE);
      replicated = parts.add(await startReplicatedRedis({ dir: runDir, safe: safe.includes("min-replicas") }));
    } else if (!isPhase1(options.design)) {
      if (process.env.REDIS_URL) {
        redisUrl = process.env.REDIS_URL;
      } else {
        if (!findRedisServer()) throw new Error(`${REDIS_MISSING_MESSAGE}, or set REDIS_URL to a Redis you run`);
        mkdirSync(path.join(runDir, "redis"), { recursive: true });
        redis = parts.add(await startRedis({ dir: path.join(runDir, "redis") }));
        redisUrl = redis.url;
      }
    }
    // Its own key prefix: a Redis at REDIS_URL may hold someone else's keys.
    const env = serverEnvironment({
      secret: runSecret(),
      dataDir: path.join(runDir, "data"),
      redisUrl,
      sentinels: replicated?.sentinelList,
      clusterNodes: cluster?.nodeList,
      safeReplication: safe,
      keyPrefix: `demo-${process.pid}:`,
    });
    const instances = Array.from({ length: options.instances }, (_, i) =>
      parts.add(
        new ServerInstance({
          design: options.design,
          serverId: `${options.design}-${i + 1}`,
          env,
          dir: runDir,
          graceful: true,
        }),
      ),
    );
    await Promise.all(instances.map((instance) => instance.start()));
    let balancer: Balancer | undefined;
    let balancerUrl: string | undefined;
    if (options.balancer) {
      const lb = parts.add(
        new Balancer(
          instances.map((instance) => ({ id: instance.serverId, url: instance.url })),
          options.balancer,
        ),
      );
      const port = await lb.listen(options.balancerPort ?? 0).catch(() => lb.listen(0));
      balancer = lb;
      balancerUrl = `http://127.0.0.1:${port}`;
    }
    return { instances, redis, redisUrl, replicated, cluster, balancer, balancerUrl, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** On Ctrl-C or SIGTERM: stop every process this script started, then exit. */
export function stopOnSignals(stack: () => Stack | undefined, say: (line: string) => void): void {
  const handler = (signal: string) => {
    say(`\n${signal}: stopping everything this script started`);
    const stopping = stack()?.stop() ?? Promise.resolve();
    void stopping.finally(() => void stopEverything().finally(() => process.exit(130)));
  };
  process.once("SIGINT", () => handler("SIGINT"));
  process.once("SIGTERM", () => handler("SIGTERM"));
}
