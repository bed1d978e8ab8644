// The one stack builder: what a lab cell, a demo, `npm run cluster` and the live view run. Redis
// (one, a replicated set of a primary, two replicas and three Sentinels, or a Redis Cluster of
// three primaries and three replicas; none for phase 1), N instances of a design, and a balancer
// (the built-in one, nginx or HAProxy) in front of them when asked (docs/how-the-lab-works.md,
// "What one cell does"; docs/instructor-guide.md). Everything it started stops with `stop()`.

import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { Design, isPhase1 } from "../designs";
import { Balancer, Strategy } from "./builtin-balancer";
import { Parts, stopEverything } from "./managed-process";
import { RealBalancer, startRealBalancer } from "./nginx-haproxy";
import {
  cloneDatabase,
  findPostgres,
  LAB_DATABASE,
  POSTGRES_MISSING_MESSAGE,
  PostgresServer,
  startLabPostgres,
} from "./postgres";
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
  /** Phase 2's PostgreSQL, when the stack started its own (not when it was given a shared one). */
  postgres?: PostgresServer;
  databaseUrl?: string;
  /** What the database cost at start, in ms: a server of its own from the seed, or a clone on the shared one. */
  databaseCost?: { start_ms?: number; clone_ms?: number };
  replicated?: ReplicatedRedis;
  cluster?: RedisCluster;
  /** The built-in balancer, when it is the one in front. */
  balancer?: Balancer;
  /** Where the users send their requests: the balancer, or the first instance when there is none. */
  url: string;
  balancerUrl?: string;
  /** The environment every instance got: a later instance (the lab's read-back) starts with the same. */
  env: Record<string, string>;
  dir: string;
  stop(): Promise<void>;
}

export interface StackOptions {
  design: Design;
  instances: number;
  /** A balancer in front, with this strategy; none when absent. */
  balancer?: Strategy;
  /** Which balancer: the built-in one (default), nginx or HAProxy. */
  lb?: "builtin" | RealBalancer;
  /** A port to try first for the built-in balancer (easy to type in class); any free one if taken. */
  balancerPort?: number;
  /** One Redis, or replicated with Sentinel ("sentinel-safe" adds the settings that close a frozen primary's window), or a Redis Cluster. */
  store?: "single" | "sentinel" | "sentinel-safe" | "cluster";
  /** One Redis with its append-only log (what survives a restart of it). */
  appendonly?: boolean;
  /** The folder to run in (a lab cell's); without it, a run folder of its own, removed at stop. */
  dir?: string;
  /** The demos and the cluster: use the Redis at REDIS_URL when it is set, with a key prefix of their own. */
  useRedisUrl?: boolean;
  /** The run's SESSION_SECRET (processes/server-env.ts); one made for the stack without it. */
  secret?: string;
  /** Instances ended with SIGTERM rather than SIGKILL at stop: for the demos, which are not about crashes. */
  graceful?: boolean;
  /** With "sentinel-safe": which of the safe settings to apply (all three when not given), to try each alone. */
  safe?: readonly SafeSetting[];
  /** A stack a class works with (the cluster, the live view, the demos): the per-account login limit stays at its default. */
  classroom?: boolean;
  /** Phase 2: a shared PostgreSQL (with the migrated template) to clone a database `name` in; without it, a server of the stack's own. */
  database?: { server: PostgresServer; name: string };
}

/** Starts the store the design needs, then the instances, then the balancer; stops what started if a step fails. */
export async function startStack(options: StackOptions): Promise<Stack> {
  if (!isPhase1(options.design) && !options.database && !findPostgres()) throw new Error(POSTGRES_MISSING_MESSAGE);
  const dir = options.dir ?? makeRunDir();
  const parts = new Parts();
  const stop = async () => {
    await parts.stop();
    if (!options.dir) rmSync(dir, { recursive: true, force: true });
  };
  // Phase 2's PostgreSQL starts while Redis does: neither waits for the other.
  const database = isPhase1(options.design) ? undefined : startDatabase(options.database, dir, parts);
  database?.catch(() => undefined); // awaited below; until then a failure must not count as unhandled
  try {
    let redis: RedisServer | undefined;
    let redisUrl: string | undefined;
    let replicated: ReplicatedRedis | undefined;
    let cluster: RedisCluster | undefined;
    const store = options.store ?? "single";
    const sharedRedis = options.useRedisUrl ? process.env.REDIS_URL : undefined;
    const safe = store === "sentinel-safe" ? (options.safe ?? SAFE_SETTINGS) : [];
    if (!isPhase1(options.design)) {
      if (!sharedRedis && !findRedisServer()) {
        throw new Error(
          `${REDIS_MISSING_MESSAGE}${options.useRedisUrl ? ", or set REDIS_URL to a Redis you run" : ""}`,
        );
      }
      if (store === "cluster") {
        cluster = parts.add(await startRedisCluster({ dir }));
      } else if (store !== "single") {
        replicated = parts.add(await startReplicatedRedis({ dir, safe: safe.includes("min-replicas") }));
      } else if (sharedRedis) {
        redisUrl = sharedRedis;
      } else {
        mkdirSync(path.join(dir, "redis"), { recursive: true });
        redis = parts.add(await startRedis({ dir: path.join(dir, "redis"), appendonly: options.appendonly ?? false }));
        redisUrl = redis.url;
      }
    }
    const { postgres, databaseUrl, databaseCost } = (await database) ?? {};
    const env = serverEnvironment({
      databaseUrl,
      secret: options.secret ?? runSecret(),
      dataDir: path.join(dir, "data"),
      redisUrl,
      sentinels: replicated?.sentinelList,
      clusterNodes: cluster?.nodeList,
      safeReplication: safe,
      behindBalancer: options.balancer !== undefined,
      classroom: options.classroom,
      // Its own key prefix on a shared Redis: the one at REDIS_URL may hold someone else's keys.
      ...(sharedRedis && { keyPrefix: `demo-${process.pid}:` }),
    });
    const instances = Array.from({ length: options.instances }, (_, i) =>
      parts.add(
        new ServerInstance({
          design: options.design,
          serverId: `${options.design}-${i + 1}`,
          env,
          dir,
          graceful: options.graceful,
        }),
      ),
    );
    await Promise.all(instances.map((instance) => instance.start()));
    let balancer: Balancer | undefined;
    let balancerUrl: string | undefined;
    if (options.balancer) {
      const backends = instances.map((instance) => ({ id: instance.serverId, url: instance.url }));
      const lb = options.lb ?? "builtin";
      if (lb === "builtin") {
        balancer = parts.add(new Balancer(backends, options.balancer));
        const port = await balancer.listen(options.balancerPort ?? 0).catch(() => (balancer as Balancer).listen(0));
        balancerUrl = `http://127.0.0.1:${port}`;
      } else {
        balancerUrl = parts.add(await startRealBalancer(lb, backends, options.balancer, path.join(dir, lb))).url;
      }
    }
    const url = balancerUrl ?? instances[0].url;
    return {
      instances,
      redis,
      redisUrl,
      postgres,
      databaseUrl,
      databaseCost,
      replicated,
      cluster,
      balancer,
      url,
      balancerUrl,
      env,
      dir,
      stop,
    };
  } catch (error) {
    await database?.catch(() => undefined); // a server still starting is then in parts, and stopped
    await stop();
    throw error;
  }
}

/** A database for phase 2: cloned on the lab's shared server, or a server of the stack's own started from the seed. */
async function startDatabase(
  shared: StackOptions["database"],
  dir: string,
  parts: Parts,
): Promise<Pick<Stack, "postgres" | "databaseUrl" | "databaseCost">> {
  const t0 = performance.now();
  if (shared) {
    const databaseUrl = await cloneDatabase(shared.server, shared.name);
    return { databaseUrl, databaseCost: { clone_ms: Math.round(performance.now() - t0) } };
  }
  const own = await startLabPostgres(path.join(dir, "postgres"));
  const postgres = parts.add(own.server);
  return { postgres, databaseUrl: postgres.url(LAB_DATABASE), databaseCost: { start_ms: own.start_ms } };
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
