// What horizontal scaling really buys (docs/concepts.md, "How far one Redis goes, and a
// Cluster"): from one run's figures, the number of instances, each on its own core, at which one
// Redis is saturated, with the arithmetic shown (capacityRows); and the same designs on a Redis
// Cluster of three primaries, measured (measureCluster).

import os from "node:os";
import path from "node:path";
import Redis, { Cluster } from "ioredis";
import { RedisDataStore } from "../../phase2-production/src/data/redis-data-store";
import { benchedOnCluster, Design } from "../designs";
import { Parts } from "../processes/managed-process";
import { RedisCluster, startRedisCluster } from "../processes/redis-cluster";
import { serverEnvironment } from "../processes/server-env";
import { ServerInstance } from "../processes/server-instance";
import {
  BENCH_QUOTA,
  BenchRun,
  cpuSeconds,
  load,
  LoadResult,
  logIn,
  median,
  medianOfRounds,
  RoundsFigures,
  seedUsers,
  waitUntilIdle,
} from "./load";

/** CPU and commands of one or more Redis processes, read before and after a run. */
export class StoreMeter {
  constructor(private readonly nodes: Array<{ pid: number | undefined; port: number }>) {}

  async snapshot(): Promise<Array<{ cpu: number; commands: number }>> {
    return Promise.all(
      this.nodes.map(async (node) => {
        const client = new Redis({ host: "127.0.0.1", port: node.port, lazyConnect: true, maxRetriesPerRequest: 0 });
        try {
          await client.connect();
          const info = await client.info("stats");
          return {
            cpu: node.pid ? (cpuSeconds(node.pid) ?? 0) : 0,
            commands: Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0),
          };
        } finally {
          client.disconnect();
        }
      }),
    );
  }
}

export interface StoreFigures {
  /** Redis commands per request answered (all nodes together). */
  redis_commands_per_req: number;
  /** Redis CPU per request answered, all nodes together, in µs. */
  redis_cpu_us_per_req: number;
  /** On a Cluster: the busiest primary's share of that CPU, in µs per request. */
  busiest_node_cpu_us_per_req: number;
}

/** One load run with the server's CPU and the store's CPU and commands, per request answered. */
export async function loadWithStore(
  serverPid: number | undefined,
  meter: StoreMeter,
  ...args: Parameters<typeof load>
): Promise<LoadResult & Partial<StoreFigures>> {
  const serverBefore = serverPid ? cpuSeconds(serverPid) : undefined;
  const storeBefore = await meter.snapshot();
  const result: LoadResult & Partial<StoreFigures> = await load(...args);
  const serverAfter = serverPid ? cpuSeconds(serverPid) : undefined;
  const storeAfter = await meter.snapshot();
  if (result.requests > 0) {
    if (serverBefore !== undefined && serverAfter !== undefined)
      result.cpu_us_per_req = Math.round(((serverAfter - serverBefore) * 1e6) / result.requests);
    const cpu = storeAfter.map((after, i) => after.cpu - storeBefore[i].cpu);
    // The meter's own INFO on each node is one command: not the server's.
    const commands = storeAfter.reduce((sum, after, i) => sum + after.commands - storeBefore[i].commands - 1, 0);
    result.redis_commands_per_req = Math.round((commands / result.requests) * 100) / 100;
    result.redis_cpu_us_per_req = Math.round((cpu.reduce((a, b) => a + b, 0) * 1e6) / result.requests);
    result.busiest_node_cpu_us_per_req = Math.round((Math.max(...cpu) * 1e6) / result.requests);
  }
  return result;
}

export interface CapacityRow {
  design: string;
  kind: "read" | "write";
  store: "one Redis" | "Redis Cluster (3 primaries)";
  server_cpu_us_per_req: number;
  requests_per_s_per_instance: number;
  redis_commands_per_req: number;
  redis_cpu_us_per_req: number;
  /** The Redis process that saturates first: the one Redis, or the Cluster's busiest primary (µs per request). */
  saturating_cpu_us_per_req: number;
  /** Instances (each on its own core) at which the busiest Redis process is saturated. */
  instances_at_saturation: number;
  /** The same from redis-benchmark's GET rate, where measured. */
  instances_by_redis_benchmark: number | null;
  arithmetic: string;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

/**
 * The model's rows, from per-design figures: the arithmetic in words beside each. It needs three
 * figures per design, all measured under the same load: the server's CPU per request, the Redis
 * commands per request, and Redis's own CPU per request (its CPU time during the run over the
 * requests answered). One Redis runs commands on one core, so it saturates when the instances
 * together ask for a whole core of it:
 *
 *   instances = server CPU µs per request / Redis CPU µs per request
 *
 * Cross-checked with Redis's limit from redis-benchmark (simple GETs, no pipelining: a lower
 * bound, since the servers pipeline automatically):
 *
 *   instances = Redis's GET/s / (commands per request × requests per second per instance)
 */
export function capacityRows(
  figures: Array<{
    design: string;
    kind: "read" | "write";
    store: CapacityRow["store"];
    cpu_us_per_req: number | null;
    redis_commands_per_req?: number | null;
    redis_cpu_us_per_req?: number | null;
    busiest_node_cpu_us_per_req?: number | null;
    errors?: number;
    non2xx?: number;
  }>,
  redisGetPerS: number | null,
): CapacityRow[] {
  const rows: CapacityRow[] = [];
  for (const figure of figures) {
    // A run whose requests failed measured the cost of failing fast, not of the work: left out (the report says so).
    if ((figure.errors ?? 0) + (figure.non2xx ?? 0) > 0) continue;
    const server = figure.cpu_us_per_req;
    const busiest = figure.busiest_node_cpu_us_per_req ?? figure.redis_cpu_us_per_req;
    const commands = figure.redis_commands_per_req;
    if (!server || !busiest || !commands) continue;
    const perInstance = Math.round(1e6 / server);
    const instances = round1(server / busiest);
    const primaries = figure.store === "one Redis" ? 1 : 3; // a Cluster spreads the users' slots over its primaries
    const byBenchmark = redisGetPerS ? round1((primaries * redisGetPerS) / (commands * perInstance)) : null;
    const busiestText =
      figure.store === "one Redis"
        ? `Redis ${busiest} µs`
        : `the busiest primary ${busiest} µs (all three: ${figure.redis_cpu_us_per_req} µs)`;
    rows.push({
      design: figure.design,
      kind: figure.kind,
      store: figure.store,
      server_cpu_us_per_req: server,
      requests_per_s_per_instance: perInstance,
      redis_commands_per_req: commands,
      redis_cpu_us_per_req: figure.redis_cpu_us_per_req ?? busiest,
      saturating_cpu_us_per_req: busiest,
      instances_at_saturation: instances,
      instances_by_redis_benchmark: byBenchmark,
      arithmetic: `server ${server} µs / ${busiestText} = ${instances} instances; each sends ${perInstance} req/s × ${commands} commands = ${Math.round(perInstance * commands)} commands/s`,
    });
  }
  return rows;
}

/** One design's reads or writes on the Cluster, over its rounds. */
export type ClusterRun = { design: Design; kind: "read" | "write" } & RoundsFigures & {
    /** One more request's answer, where a round failed. */
    first_failure?: string;
    cpu_us_per_req: number | null;
  } & StoreFigures;

export interface ClusterFigures {
  nodes: number;
  primaries: number;
  runs: ClusterRun[];
  /** The primaries that changed during the measurements (a failover), or none. */
  failovers: string[];
  /** Measured 1 vs 2 instances, or why not. */
  scaling_check: string;
}

/**
 * The designs on a Redis Cluster of three primaries and three replicas: the same reads and
 * uploads, the server's CPU per request (ioredis in Cluster mode costs a little more) and each
 * primary's CPU per request, for the capacity section.
 */
export async function measureCluster(
  options: { duration: number; rounds: number; users: number; designs: Design[] },
  { runDir, secret, say }: BenchRun,
): Promise<ClusterFigures> {
  const parts = new Parts();
  try {
    const cluster: RedisCluster = parts.add(await startRedisCluster({ dir: path.join(runDir, "cluster") }));
    const primaries = await cluster.primaries();
    const primaryPorts = () =>
      primaries
        .map((node) => node.port)
        .sort((a, b) => a - b)
        .join(",");
    const before = primaryPorts();
    const meter = new StoreMeter(primaries.map((node) => ({ pid: node.pid, port: node.port })));
    const admin = new Cluster(cluster.nodes.map((node) => ({ host: "127.0.0.1", port: node.port })));
    const count = Math.min(options.users / 2, 500); // 100 in --quick, 500 in a full run
    const [readers, writers] = await (async () => {
      try {
        return [
          await seedUsers(new RedisDataStore(admin, "lab:"), "cluster", count, 10, secret),
          await seedUsers(new RedisDataStore(admin, "lab:"), "cluster-writer", Math.min(count, 100), 10, secret),
        ];
      } finally {
        admin.disconnect();
      }
    })();
    const env = {
      ...serverEnvironment({
        secret,
        dataDir: path.join(runDir, "data"),
        clusterNodes: cluster.nodeList,
        logLevel: "info",
      }),
      ...BENCH_QUOTA,
    };
    const runs: ClusterRun[] = [];
    for (const design of options.designs.filter(benchedOnCluster)) {
      const server = parts.add(
        new ServerInstance({ design, serverId: `${design}-on-cluster`, env, dir: runDir, graceful: true }),
      );
      await server.start();
      for (const [kind, users] of [
        ["read", readers],
        ["write", writers],
      ] as const) {
        const credentials = await logIn(design, server.url, users);
        await load(server.url, kind, credentials, Math.min(1, options.duration));
        const results: Array<Awaited<ReturnType<typeof loadWithStore>>> = [];
        for (let round = 1; round <= options.rounds; round += 1) {
          await waitUntilIdle(server.pid);
          const result = await loadWithStore(server.pid, meter, server.url, kind, credentials, options.duration);
          results.push(result);
          say(
            `[cluster ${round}/${options.rounds}] ${design} ${kind}: ${result.req_s} req/s, server ${result.cpu_us_per_req ?? "?"} µs/req, Redis ${result.redis_cpu_us_per_req} µs/req over 3 primaries${result.errors || result.non2xx ? `, ${result.errors} errors, ${result.non2xx} non-2xx ${JSON.stringify(result.statuses ?? {})}` : ""}`,
          );
        }
        const mid = (pick: (run: (typeof results)[number]) => number | undefined) =>
          median(results.map((run) => pick(run) ?? 0));
        // A failed run says how: one more request of the same kind, its answer kept.
        const failed = results.some((run) => run.errors + run.non2xx > 0);
        runs.push({
          design,
          kind,
          ...medianOfRounds(results),
          ...(failed ? { first_failure: await oneAnswer(server.url, kind, credentials[0]) } : {}),
          cpu_us_per_req: results.every((run) => run.cpu_us_per_req !== undefined)
            ? mid((run) => run.cpu_us_per_req)
            : null,
          redis_commands_per_req: mid((run) => run.redis_commands_per_req),
          redis_cpu_us_per_req: mid((run) => run.redis_cpu_us_per_req),
          busiest_node_cpu_us_per_req: mid((run) => run.busiest_node_cpu_us_per_req),
        });
      }
      await server.end();
    }
    // A primary that stopped answering its peers for --cluster-node-timeout is replaced by its
    // replica: the figures above would then mix two layouts. Said, not hidden.
    const after = (await cluster.primaries())
      .map((node) => node.port)
      .sort((a, b) => a - b)
      .join(",");
    const failovers = after === before ? [] : [`primaries on ports ${before} before the measurements, ${after} after`];
    return {
      nodes: cluster.nodes.length,
      primaries: primaries.length,
      runs,
      failovers,
      scaling_check: scalingCheckNote(),
    };
  } finally {
    await parts.stop();
  }
}

/** One request like the load's, answered: "503 store_unavailable: …", for a run that failed. */
async function oneAnswer(
  url: string,
  kind: "read" | "write",
  credentials: Record<string, string> | undefined,
): Promise<string> {
  try {
    const response = await fetch(`${url}${kind === "read" ? "/api/files" : "/api/upload"}`, {
      method: kind === "read" ? "GET" : "POST",
      headers: { ...credentials, "content-type": "application/json" },
      body: kind === "read" ? undefined : JSON.stringify({ filename: "probe.txt", content: "a small benchmark file" }),
      signal: AbortSignal.timeout(5000),
    });
    const body = (await response.json().catch(() => ({}))) as { error?: string; message?: string };
    return `${response.status}${body.error ? ` ${body.error}` : ""}${body.message ? `: ${body.message}` : ""}`;
  } catch (error) {
    return `no answer: ${(error as Error).message}`;
  }
}

/** Measuring 1 against 2 instances needs a core for each, one for Redis and one for the load. */
export function scalingCheckNote(): string {
  const cores = os.cpus().length;
  return cores >= 4
    ? ""
    : `not measured: 1 against 2 instances needs at least 4 cores (2 instances, Redis and the load generator), and this machine has ${cores}`;
}

export interface ScalingCheck {
  design: Design;
  one_instance_req_s: number;
  two_instances_req_s: number;
  measured_ratio: number;
  /** What the model says two instances give: 2, or less when Redis saturates first. */
  model_ratio: number;
}

/**
 * The model against a measurement, where the machine has the cores: the same reads on one
 * instance, then on two at once (half the connections each), both on the same Redis.
 */
export async function measureScaling(
  design: Design,
  env: Record<string, string>,
  runDir: string,
  users: string[],
  seconds: number,
  instancesAtSaturation: number | null,
): Promise<ScalingCheck> {
  const parts = new Parts();
  try {
    const servers = [1, 2].map((i) =>
      parts.add(
        new ServerInstance({
          design,
          serverId: `scaling-${i}`,
          env: { ...env, LOG_LEVEL: "warn" },
          dir: runDir,
          graceful: true,
        }),
      ),
    );
    await Promise.all(servers.map((server) => server.start()));
    const credentials = await Promise.all(servers.map((server) => logIn(design, server.url, users)));
    await load(servers[0].url, "read", credentials[0], Math.min(1, seconds));
    await load(servers[1].url, "read", credentials[1], Math.min(1, seconds));
    const one = await load(servers[0].url, "read", credentials[0], seconds);
    const both = await Promise.all(servers.map((server, i) => load(server.url, "read", credentials[i], seconds, 25)));
    const two = both.reduce((sum, run) => sum + run.req_s, 0);
    return {
      design,
      one_instance_req_s: one.req_s,
      two_instances_req_s: two,
      measured_ratio: Math.round((two / Math.max(1, one.req_s)) * 100) / 100,
      model_ratio: instancesAtSaturation === null ? 2 : Math.min(2, instancesAtSaturation),
    };
  } finally {
    await parts.stop();
  }
}
