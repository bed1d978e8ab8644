// What horizontal scaling really buys (docs/concepts.md, "How far one Redis goes, then the
// database, and a Cluster"): from one run's figures, the number of instances, each on its own core, at which one
// Redis is saturated, and how many a core of PostgreSQL serves, with the arithmetic shown
// (capacityRows); and the same designs on a Redis Cluster of three primaries, measured
// (measureCluster).

import { existsSync, readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Redis from "ioredis";
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
  waitUntilIdle,
} from "./load";

/** utime, stime, cutime and cstime of a process in seconds, from /proc/<pid>/stat; undefined once it is gone. */
function cpuFields(pid: number): { own: number; reaped: number; parent: number } | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return {
      own: (Number(fields[11]) + Number(fields[12])) / 100,
      reaped: (Number(fields[13]) + Number(fields[14])) / 100,
      parent: Number(fields[1]),
    };
  } catch {
    return undefined; // exited between the listing and the read
  }
}

/**
 * PostgreSQL's CPU seconds so far: it forks a backend per connection, so its CPU is spread over
 * the postmaster and its children. The postmaster's own time, its live children's, and what its
 * exited children used (the kernel adds a reaped child's time to its parent's cutime and cstime),
 * so that a backend that ends between two readings is still counted. Linux only (undefined elsewhere).
 */
export function postgresCpuSeconds(postmasterPid: number): number | undefined {
  const postmaster = cpuFields(postmasterPid);
  if (!postmaster || !existsSync("/proc")) return undefined;
  let children = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const child = cpuFields(Number(entry));
    if (child?.parent === postmasterPid) children += child.own;
  }
  return postmaster.own + postmaster.reaped + children;
}

/**
 * CPU and commands of one or more Redis processes, and PostgreSQL's CPU where its postmaster's
 * pid is given, read before and after a run.
 */
export class StoreMeter {
  constructor(
    private readonly nodes: Array<{ pid: number | undefined; port: number }>,
    private readonly postgresPid?: number,
  ) {}

  async snapshot(): Promise<{ nodes: Array<{ cpu: number; commands: number }>; database: number | undefined }> {
    const database = this.postgresPid ? postgresCpuSeconds(this.postgresPid) : undefined;
    const nodes = await Promise.all(
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
    return { nodes, database };
  }
}

export interface StoreFigures {
  /** Redis commands per request answered (all nodes together). */
  redis_commands_per_req: number;
  /** Redis CPU per request answered, all nodes together, in µs. */
  redis_cpu_us_per_req: number;
  /** On a Cluster: the busiest primary's share of that CPU, in µs per request. */
  busiest_node_cpu_us_per_req: number;
  /** PostgreSQL's CPU per request answered (the postmaster and every backend), in µs, where measured. */
  db_cpu_us_per_req?: number;
}

/** One load run with the server's CPU, Redis's CPU and commands, and PostgreSQL's CPU, per request answered. */
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
    const cpu = storeAfter.nodes.map((after, i) => after.cpu - storeBefore.nodes[i].cpu);
    // The meter's own INFO on each node is one command: not the server's.
    const commands = storeAfter.nodes.reduce(
      (sum, after, i) => sum + after.commands - storeBefore.nodes[i].commands - 1,
      0,
    );
    result.redis_commands_per_req = Math.round((commands / result.requests) * 100) / 100;
    result.redis_cpu_us_per_req = Math.round((cpu.reduce((a, b) => a + b, 0) * 1e6) / result.requests);
    result.busiest_node_cpu_us_per_req = Math.round((Math.max(...cpu) * 1e6) / result.requests);
    if (storeBefore.database !== undefined && storeAfter.database !== undefined)
      result.db_cpu_us_per_req = Math.round(((storeAfter.database - storeBefore.database) * 1e6) / result.requests);
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
  /** The Redis process that saturates first: the one Redis, or the Cluster's busiest primary (µs per request); null when the request sends Redis nothing. */
  saturating_cpu_us_per_req: number | null;
  /** Instances (each on its own core) at which the busiest Redis process is saturated; null when the request sends Redis nothing. */
  instances_at_saturation: number | null;
  /** The same from redis-benchmark's GET rate, where measured. */
  instances_by_redis_benchmark: number | null;
  arithmetic: string;
  /** PostgreSQL's CPU per request, all its processes together (µs), or null where not measured. */
  db_cpu_us_per_req: number | null;
  /** Instances (each on its own core) whose requests one core of PostgreSQL keeps up with. */
  instances_per_db_core: number | null;
  /** The fewest PostgreSQL cores that serve as many requests as the saturating Redis process: on fewer, PostgreSQL is the first limit. */
  db_cores_to_outlast_redis: number | null;
  /** Which limit comes first, the instances' count at it, and the arithmetic. */
  first_limit: string;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

/**
 * The model's rows, from per-design figures: the arithmetic in words beside each. It needs four
 * figures per design, all measured under the same load: the server's CPU per request, the Redis
 * commands per request, and Redis's and PostgreSQL's own CPU per request (their CPU time during
 * the run over the requests answered). One Redis runs commands on one core, so it saturates when
 * the instances together ask for a whole core of it:
 *
 *   instances = server CPU µs per request / Redis CPU µs per request
 *
 * Cross-checked with Redis's limit from redis-benchmark (simple GETs, no pipelining: a lower
 * bound, since the servers pipeline automatically):
 *
 *   instances = Redis's GET/s / (commands per request × requests per second per instance)
 *
 * PostgreSQL runs a process per connection, so it spreads over as many cores as it is given:
 * one core of it keeps up with server CPU / PostgreSQL CPU instances, and it is the first limit
 * while it has fewer cores than PostgreSQL CPU / Redis CPU per request.
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
    db_cpu_us_per_req?: number | null;
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
    const commands = figure.redis_commands_per_req ?? 0;
    // Fewer than one command in two requests: Redis is not on this request's path (memory-session
    // keeps its sessions in the instance), and only PostgreSQL limits the instances.
    const usesRedis = commands >= 0.5;
    const busiest = usesRedis ? figure.busiest_node_cpu_us_per_req || figure.redis_cpu_us_per_req || null : null;
    const database = figure.db_cpu_us_per_req || null; // 0: too little to measure over the run, not free
    if (!server || (usesRedis && !busiest) || (!busiest && !database)) continue;
    const perInstance = Math.round(1e6 / server);
    const instances = busiest ? round1(server / busiest) : null;
    const primaries = figure.store === "one Redis" ? 1 : 3; // a Cluster spreads the users' slots over its primaries
    const byBenchmark =
      redisGetPerS && usesRedis ? round1((primaries * redisGetPerS) / (commands * perInstance)) : null;
    const busiestText =
      figure.store === "one Redis"
        ? `Redis ${busiest} µs`
        : `the busiest primary ${busiest} µs (all three: ${figure.redis_cpu_us_per_req} µs)`;
    const perDbCore = database ? round1(server / database) : null;
    const dbCores = database && busiest ? Math.max(1, Math.ceil(database / busiest)) : null;
    const redisPart = busiest
      ? `server ${server} µs / ${busiestText} = ${instances} instances; each sends ${perInstance} req/s × ${commands} commands = ${Math.round(perInstance * commands)} commands/s`
      : `no Redis command (${commands} per request)`;
    const databasePart = database
      ? `; server ${server} µs / PostgreSQL ${database} µs = ${perDbCore} instances per PostgreSQL core`
      : "";
    rows.push({
      design: figure.design,
      kind: figure.kind,
      store: figure.store,
      server_cpu_us_per_req: server,
      requests_per_s_per_instance: perInstance,
      redis_commands_per_req: commands,
      redis_cpu_us_per_req: figure.redis_cpu_us_per_req ?? 0,
      saturating_cpu_us_per_req: busiest,
      instances_at_saturation: instances,
      instances_by_redis_benchmark: byBenchmark,
      arithmetic: redisPart + databasePart,
      db_cpu_us_per_req: database,
      instances_per_db_core: perDbCore,
      db_cores_to_outlast_redis: dbCores,
      first_limit: firstLimit(figure.store, { server, busiest, database, perInstance, instances, perDbCore, dbCores }),
    });
  }
  return rows;
}

/** Which of Redis and PostgreSQL stops the instances first, in words with the arithmetic. */
function firstLimit(
  store: CapacityRow["store"],
  f: {
    server: number;
    busiest: number | null;
    database: number | null;
    perInstance: number;
    instances: number | null;
    perDbCore: number | null;
    dbCores: number | null;
  },
): string {
  const instance = `each instance ${f.perInstance} req/s (1e6 / ${f.server} µs)`;
  const postgres = f.database
    ? `one PostgreSQL core ${Math.round(1e6 / f.database)} req/s (1e6 / ${f.database} µs)`
    : "";
  if (!f.busiest)
    return `Redis is not on this path; ${postgres}, ${instance}: PostgreSQL comes first, at ${f.perDbCore} instances per core`;
  const redis = `${store === "one Redis" ? "one Redis core" : "the busiest Redis primary"} serves ${Math.round(1e6 / f.busiest)} req/s (1e6 / ${f.busiest} µs)`;
  if (!f.database) return `${redis}, ${instance}: Redis, at ${f.instances} instances (PostgreSQL's CPU not measured)`;
  if (f.dbCores === 1)
    return `${redis}, ${postgres}, ${instance}: Redis comes first, at ${f.instances} instances, even with PostgreSQL on one core (which keeps up with ${f.perDbCore})`;
  return `${redis}, ${postgres}, ${instance}: with PostgreSQL on fewer than ${f.dbCores} cores (${f.database} / ${f.busiest} = ${Math.round((f.database / f.busiest) * 100) / 100}), PostgreSQL comes first, at ${f.perDbCore} instances per core; on ${f.dbCores} or more, Redis, at ${f.instances} instances`;
}

/**
 * The same question on one machine that runs everything (the instances, Redis, PostgreSQL):
 * every request costs the three CPU figures together, and the cores run out before Redis's
 * one core does while there are fewer of them than that total over Redis's own share.
 */
export function oneMachineLimit(row: CapacityRow, cores: number): string {
  const parts: Array<[string, number]> = [
    ["server", row.server_cpu_us_per_req],
    ["Redis", row.redis_cpu_us_per_req],
    ...(row.db_cpu_us_per_req ? [["PostgreSQL", row.db_cpu_us_per_req] as [string, number]] : []),
  ];
  const total = parts.reduce((sum, [, us]) => sum + us, 0);
  const most = Math.round((cores * 1e6) / total);
  const start = `${row.design} ${row.kind} on one machine of ${cores} cores running the instances, Redis and PostgreSQL: a request costs ${parts.map(([name, us]) => `${name} ${us}`).join(" + ")} = ${total} µs of CPU, so ${cores} cores serve at most ${cores} × 1e6 / ${total} = ${most} req/s`;
  // PostgreSQL's processes spread over the same cores as the instances: only Redis's one core is a limit of its own.
  if (!row.saturating_cpu_us_per_req) return `${start}, whatever their number: the cores are the limit.`;
  const redisRate = Math.round(1e6 / row.saturating_cpu_us_per_req);
  const enough = Math.ceil(total / row.saturating_cpu_us_per_req);
  return `${start}; ${most < redisRate ? `the cores run out first, below Redis's ${redisRate} req/s, until there are ${enough} of them` : `Redis's ${redisRate} req/s comes first`}.`;
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
  { runDir, secret, say, database }: BenchRun,
  seeded: { readers: string[]; writers: string[] },
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
    const meter = new StoreMeter(
      primaries.map((node) => ({ pid: node.pid, port: node.port })),
      database.pid,
    );
    // The users and their files are in PostgreSQL, the same as on one Redis: only the sessions move to the Cluster.
    const count = Math.min(options.users / 2, 500); // 100 in --quick, 500 in a full run
    const readers = seeded.readers.slice(0, count);
    const writers = seeded.writers.slice(0, Math.min(count, 100));
    const env = {
      ...serverEnvironment({
        secret,
        dataDir: path.join(runDir, "data"),
        databaseUrl: database.url,
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
          await waitUntilIdle(database.pid, 10_000, postgresCpuSeconds);
          const result = await loadWithStore(server.pid, meter, server.url, kind, credentials, options.duration);
          results.push(result);
          say(
            `[cluster ${round}/${options.rounds}] ${design} ${kind}: ${result.req_s} req/s, server ${result.cpu_us_per_req ?? "?"} µs/req, Redis ${result.redis_cpu_us_per_req} µs/req over 3 primaries, PostgreSQL ${result.db_cpu_us_per_req ?? "?"} µs/req${result.errors || result.non2xx ? `, ${result.errors} errors, ${result.non2xx} non-2xx ${JSON.stringify(result.statuses ?? {})}` : ""}`,
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
          ...(results.every((run) => run.db_cpu_us_per_req !== undefined)
            ? { db_cpu_us_per_req: mid((run) => run.db_cpu_us_per_req) }
            : {}),
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
