// `npm run bench`: what each design costs, measured against its own data path, in one run
// (docs/how-the-lab-works.md, "The benchmark harness"; the figures are in docs/results.md).
// Ceilings and designs run interleaved, every configuration once per round, after a warm-up
// and a wait until the server is idle; the median of the rounds is reported, as a ratio first
// (absolute figures move from machine to machine).

import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import Redis from "ioredis";
import { Pool } from "pg";
import { FileDataStore } from "../../phase1-mockup/src/domain/file-data-store";
import { PostgresDataStore } from "../../phase2-production/src/data/postgres-data-store";
import { parseOrExit, readArgs, runProgram, readDesign, UsageError } from "../cli";
import { Design, DESIGNS, isDesign, isPhase1, logsIn, peerLogin, textbookPeer, TextbookPeer } from "../designs";
import { machine } from "../processes/machine";
import { Parts, stopEverything } from "../processes/managed-process";
import { findBalancer, startRealBalancer } from "../processes/nginx-haproxy";
import {
  adminStatement,
  findPostgres,
  keepPostgresSeedIn,
  LAB_DATABASE,
  POSTGRES_MISSING_MESSAGE,
  postgresVersion,
  startLabPostgres,
} from "../processes/postgres";
import { findRedisServer, REDIS_MISSING_MESSAGE, redisVersion, startRedis } from "../processes/redis";
import { cleanUpEarlierRuns, makeRunDir, reportsDir, shownPath } from "../processes/run-dir";
import { runSecret, serverEnvironment } from "../processes/server-env";
import { compiledScript, ServerInstance } from "../processes/server-instance";
import {
  capacityRows,
  ClusterFigures,
  measureCluster,
  measureScaling,
  oneMachineLimit,
  postgresCpuSeconds,
  ScalingCheck,
  scalingCheckNote,
  StoreMeter,
  loadWithStore,
} from "./capacity";
import { Ceiling, CEILINGS } from "./ceilings";
import {
  BENCH_QUOTA,
  CONNECTIONS,
  load,
  loadAndTime,
  LoadResult,
  logIn,
  median,
  medianOfRounds,
  openConnections,
  seedUsers,
  waitUntilIdle,
} from "./load";
import { measureMemory } from "./memory";
import { Profile, profileDesign, summarise } from "./profile";
import { measureReplication } from "./replication";
import { benchMarkdown, evaluateGoals, Goal } from "./report";

const USAGE =
  "usage: npm run bench -- [--duration S] [--rounds N] [--design D] [--quick] [--no-memory] [--no-balancer] [--no-replication] [--no-cluster]";

/** Rounds go on until every CPU ratio holds within this spread over the rounds, or MAX_ROUNDS. */
const RATIO_SPREAD = 0.1;
const MAX_ROUNDS = 5;

interface BenchOptions {
  duration: number;
  rounds: number;
  users: number;
  designs: Design[];
  memorySteps: number[];
  memory: boolean;
  balancer: boolean;
  replication: boolean;
  cluster: boolean;
  quick: boolean;
}

function readOptions(argv: string[]): BenchOptions {
  const values = readArgs(
    argv,
    ["duration", "rounds", "design"],
    ["quick", "no-memory", "no-balancer", "no-replication", "no-cluster"],
  );
  const quick = values.quick ?? false;
  const number = (name: string, text: string | undefined, fallback: number) => {
    if (text === undefined) return fallback;
    if (!/^\d+(\.\d+)?$/.test(text) || Number(text) <= 0)
      throw new UsageError(`--${name} must be a positive number (got ${JSON.stringify(text)})`);
    return Number(text);
  };
  const design = readDesign(values.design, false);
  return {
    duration: number("duration", values.duration, quick ? 2 : 5),
    rounds: Math.round(number("rounds", values.rounds, quick ? 1 : 3)),
    users: quick ? 200 : 1000,
    designs: design ? [design] : [...DESIGNS],
    memorySteps: quick ? [1000, 5000] : [1000, 5000, 20000],
    memory: !values["no-memory"],
    balancer: !values["no-balancer"],
    replication: !values["no-replication"],
    cluster: !values["no-cluster"],
    quick,
  };
}

type Run = LoadResult & { redis_commands_per_req?: number; redis_cpu_us_per_req?: number; db_cpu_us_per_req?: number };

interface Measured {
  name: string;
  kind: "read" | "write";
  runs: Run[];
}

const spreadOf = (values: number[]) =>
  values.length > 1
    ? Math.round(((Math.max(...values) - Math.min(...values)) / Math.max(1e-9, median(values))) * 1000) / 1000
    : 0;

function summarize(runs: Run[]) {
  const rates = runs.map((run) => run.req_s);
  const all = <K extends keyof Run>(key: K) => runs.length > 0 && runs.every((run) => run[key] !== undefined);
  return {
    ...medianOfRounds(runs),
    cpu_us_per_req: all("cpu_us_per_req") ? median(runs.map((run) => run.cpu_us_per_req as number)) : null,
    redis_commands_per_req: all("redis_commands_per_req")
      ? median(runs.map((run) => run.redis_commands_per_req as number))
      : null,
    redis_cpu_us_per_req: all("redis_cpu_us_per_req")
      ? median(runs.map((run) => run.redis_cpu_us_per_req as number))
      : null,
    db_cpu_us_per_req: all("db_cpu_us_per_req") ? median(runs.map((run) => run.db_cpu_us_per_req as number)) : null,
    spread: spreadOf(rates),
    cpu_spread: all("cpu_us_per_req") ? spreadOf(runs.map((run) => run.cpu_us_per_req as number)) : null,
  };
}

const ratio = (value: number, base: number) => (base > 0 ? Math.round((value / base) * 1000) / 1000 : null);

/** A CPU ratio the goals read: a design against its textbook peer, or stateful against its ceiling. */
interface CpuPair {
  design: string;
  kind: "read" | "write";
  against: string;
}

/** The ratio in each round (the two were measured minutes apart at most), and their median and spread. */
function pairRatios(measured: Measured[], pair: CpuPair) {
  const runsOf = (name: string) => measured.find((m) => m.name === name && m.kind === pair.kind)?.runs ?? [];
  const mine = runsOf(pair.design);
  const theirs = runsOf(pair.against);
  const ratios = mine.flatMap((run, i) =>
    run.cpu_us_per_req && theirs[i]?.cpu_us_per_req ? [run.cpu_us_per_req / (theirs[i].cpu_us_per_req as number)] : [],
  );
  return { ratios, median: ratios.length ? Math.round(median(ratios) * 1000) / 1000 : null, spread: spreadOf(ratios) };
}

async function main(): Promise<number> {
  const options = parseOrExit(USAGE, () => readOptions(process.argv.slice(2)));
  const say = (line: string) => process.stderr.write(`${line}\n`);
  if (!findRedisServer()) {
    say(`bench: ${REDIS_MISSING_MESSAGE}`);
    return 1;
  }
  if (!findPostgres()) {
    say(`bench: ${POSTGRES_MISSING_MESSAGE}`);
    return 1;
  }
  for (const line of cleanUpEarlierRuns()) say(`bench: ${line}`);
  const runDir = makeRunDir();
  process.once("SIGINT", () => void stopEverything().finally(() => process.exit(130)));
  process.once("SIGTERM", () => void stopEverything().finally(() => process.exit(130)));
  const started = Date.now();

  // One DATA_DIR for phase 1; for phase 2 one PostgreSQL (users and files) and one Redis
  // (sessions and counters): the same records for ceilings, peers and designs.
  mkdirSync(path.join(runDir, "redis"), { recursive: true });
  keepPostgresSeedIn(runDir); // its seed folder goes with the run's, even if this run is killed
  const [redis, { server: postgres }] = await Promise.all([
    startRedis({ dir: path.join(runDir, "redis") }),
    startLabPostgres(path.join(runDir, "postgres")),
  ]);
  // Autovacuum starts a worker process per database once a minute, and PostgreSQL's CPU over a
  // run of 2 s would carry its start (tens of ms) as if the requests had cost it. The bench's
  // tables only grow, and no run lasts long enough to need a vacuum.
  await adminStatement(postgres, "ALTER SYSTEM SET autovacuum = off");
  await adminStatement(postgres, "SELECT pg_reload_conf()");
  const databaseUrl = postgres.url(LAB_DATABASE);
  const database = { url: databaseUrl, pid: postgres.pid };
  const meter = new StoreMeter([{ pid: redis.pid, port: redis.port }], postgres.pid);
  const secret = runSecret(); // one SESSION_SECRET for the whole run, file ids included
  const admin = new Redis(redis.url);
  // Seeding only: pg's defaults, without the servers' 750 ms bounds, which 50 registrations at
  // once (each hashing a password on the same 2 cores) could pass waiting for a connection.
  const seedPool = new Pool({ connectionString: databaseUrl });
  const phase2Store = new PostgresDataStore(seedPool);
  const dataDir = path.join(runDir, "data");
  // Writers only need to be many enough that no two uploads of a round share a user often: --quick seeds fewer, to stay within its 3 minutes.
  const writerCount = options.quick ? 100 : options.users;
  say(
    `bench: seeding ${options.users} readers and ${writerCount} writers with one file each, in DATA_DIR and in PostgreSQL (PASSWORD_HASH_COST=10)`,
  );
  // Readers keep exactly one file each, so every read lists the same records all run long;
  // uploads go to other users (writers), whose lists grow.
  const phase1Users = await seedUsers(new FileDataStore(dataDir), "bench", options.users, 10, secret);
  const phase2Users = await seedUsers(phase2Store, "bench", options.users, 10, secret);
  const phase1Writers = await seedUsers(new FileDataStore(dataDir), "writer", writerCount, 10, secret);
  const phase2Writers = await seedUsers(phase2Store, "writer", writerCount, 10, secret);
  // stateless at the default cost 14 (not in --quick: 50 hashes of 55 ms to seed, and a run of 20 req/s that says little in 2 s)
  const slowUsers = options.quick ? [] : await seedUsers(new FileDataStore(dataDir), "slow", 50, 14, secret);

  // LOG_LEVEL info: a request's log line is part of what a design costs. The quota raised: a
  // writer uploads hundreds of files in a run, and the bench measures uploads, not 413s.
  const env = {
    ...serverEnvironment({ secret, dataDir, databaseUrl, redisUrl: redis.url, logLevel: "info" }),
    ...BENCH_QUOTA,
  };
  let instances = new Parts();
  const start = async (name: string, design: Design, args?: string[]) => {
    const instance = instances.add(
      new ServerInstance({ design, serverId: name, env, dir: runDir, args, graceful: true }),
    );
    await instance.start();
    return instance;
  };

  try {
    // Every configuration: a server, what to send, and the users to send it as.
    const configs: Array<{
      name: string;
      kind: "read" | "write";
      instance: ServerInstance;
      credentials: Array<Record<string, string>>;
    }> = [];
    for (const ceiling of CEILINGS) {
      const instance = await start(ceiling, "stateless", [compiledScript("bench", "ceilings.js"), ceiling]);
      // The ceilings read as the same users as the designs do (phase1Users and phase2Users have the same names).
      configs.push({
        name: ceiling,
        kind: "read",
        instance,
        credentials: phase1Users.map((name) => ({ "x-bench-user": name })),
      });
    }
    const peers = [...new Set(options.designs.flatMap((design) => textbookPeer(design) ?? []))];
    for (const peer of peers) {
      const instance = await start(peer, "redis-session", [compiledScript("bench", "textbook.js"), peer]);
      const speaks = peerLogin(peer); // its login answers as that design's does
      say(`bench: logging in ${options.users} users on ${peer}`);
      configs.push(
        { name: peer, kind: "read", instance, credentials: await logIn(speaks, instance.url, phase2Users) },
        { name: peer, kind: "write", instance, credentials: await logIn(speaks, instance.url, phase2Writers) },
      );
    }
    for (const design of options.designs) {
      const instance = await start(design, design);
      say(`bench: logging in ${options.users} users on ${design}`);
      const credentials = await logIn(design, instance.url, isPhase1(design) ? phase1Users : phase2Users);
      const writers = await logIn(design, instance.url, isPhase1(design) ? phase1Writers : phase2Writers);
      configs.push(
        { name: design, kind: "read", instance, credentials },
        { name: design, kind: "write", instance, credentials: writers },
      );
      // Without a login, every request checks the password: measured again at the default cost.
      if (!logsIn(design) && slowUsers.length)
        configs.push({
          name: `${design} (cost 14)`,
          kind: "read",
          instance,
          credentials: await logIn(design, instance.url, slowUsers),
        });
    }

    // The CPU ratios the goals read, which the rounds go on until they hold.
    const pairs: CpuPair[] = [
      ...options.designs.flatMap((design) =>
        (["read", "write"] as const).flatMap((kind) =>
          textbookPeer(design) ? [{ design, kind, against: textbookPeer(design) as string }] : [],
        ),
      ),
      ...(options.designs.includes("stateful")
        ? [{ design: "stateful", kind: "read" as const, against: "express+data_dir" }]
        : []),
    ];
    const measured: Measured[] = configs.map((config) => ({ name: config.name, kind: config.kind, runs: [] }));
    say(`bench: warming up ${configs.length} configurations`);
    for (const config of configs)
      await load(
        config.instance.url,
        config.kind,
        config.credentials,
        options.quick ? 0.3 : Math.min(1, options.duration),
      );
    const maxRounds = options.quick ? options.rounds : Math.max(options.rounds, MAX_ROUNDS);
    let rounds = 0;
    for (let round = 1; round <= maxRounds; round += 1) {
      rounds = round;
      for (const [index, config] of configs.entries()) {
        await openConnections(config.instance.url, config.credentials);
        await waitUntilIdle(config.instance.pid);
        await waitUntilIdle(postgres.pid, 10_000, postgresCpuSeconds);
        const result = await loadWithStore(
          config.instance.pid,
          meter,
          config.instance.url,
          config.kind,
          config.credentials,
          options.duration,
        );
        measured[index].runs.push(result);
        say(
          `[round ${round}] ${config.name} ${config.kind}: ${result.req_s} req/s, p50 ${result.p50_ms} ms, server ${result.cpu_us_per_req ?? "?"} µs/req${result.db_cpu_us_per_req ? `, PostgreSQL ${result.db_cpu_us_per_req} µs/req` : ""}${result.errors || result.non2xx ? `, ${result.errors} errors, ${result.non2xx} non-2xx ${JSON.stringify(result.statuses ?? {})}  <- NOT USED FOR A RATIO` : ""}`,
        );
      }
      if (round < options.rounds) continue;
      const wandering = pairs.filter((pair) => pairRatios(measured, pair).spread > RATIO_SPREAD);
      if (options.quick || wandering.length === 0) break;
      if (round < maxRounds)
        say(
          `bench: ${wandering.map((pair) => `${pair.design} ${pair.kind} / ${pair.against}`).join(", ")} moved more than ${RATIO_SPREAD * 100}% between rounds: one more round`,
        );
    }

    const ceilings = CEILINGS.map((name: Ceiling) => {
      const figures = summarize(measured.find((m) => m.name === name)?.runs ?? []);
      return {
        name,
        req_s: figures.req_s,
        p50_ms: figures.p50_ms,
        p99_ms: figures.p99_ms,
        errors: figures.errors,
        cpu_us_per_req: figures.cpu_us_per_req,
        db_cpu_us_per_req: figures.db_cpu_us_per_req,
        spread: figures.spread,
        cpu_spread: figures.cpu_spread,
      };
    });
    const peerFigures = measured
      .filter((m) => peers.includes(m.name as TextbookPeer))
      .map((m) => ({ name: m.name, kind: m.kind, ...summarize(m.runs) }));
    const ceilingOf = (name: string) => ceilings.find((ceiling) => ceiling.name === name)?.req_s ?? 0;
    const designs = measured
      .filter((m) => !CEILINGS.includes(m.name as Ceiling) && !peers.includes(m.name as TextbookPeer))
      .map((m) => {
        const figures = summarize(m.runs);
        const design = m.name.split(" ")[0] as Design; // "stateless (cost 14)" is stateless too
        const path_ceiling = isPhase1(design) ? "express+data_dir" : "express+postgres";
        const clean = figures.errors === 0 && figures.non2xx === 0;
        const peer = m.name === design ? textbookPeer(design) : undefined;
        const toPeer = peer ? pairRatios(measured, { design, kind: m.kind, against: peer }) : undefined;
        const toCeiling =
          m.kind === "read" && m.name === design
            ? pairRatios(measured, { design, kind: "read", against: path_ceiling })
            : undefined;
        return {
          design: m.name,
          kind: m.kind,
          ratio_to_ceiling: clean ? ratio(figures.req_s, ceilingOf(path_ceiling)) : null,
          ceiling: path_ceiling,
          ratio_to_express: clean ? ratio(figures.req_s, ceilingOf("express")) : null,
          cpu_ratio_to_ceiling: clean ? (toCeiling?.median ?? null) : null,
          peer: peer ?? null,
          cpu_ratio_to_peer: clean ? (toPeer?.median ?? null) : null,
          cpu_ratio_spread: toPeer?.spread ?? toCeiling?.spread ?? null,
          ...figures,
        };
      });

    await instances.stop();
    instances = new Parts();
    const memory = options.memory
      ? await measureMemory(
          { ...options, secret },
          runDir,
          { redisUrl: redis.url, admin, databaseUrl, database: phase2Store },
          say,
        )
      : [];
    const balancer = options.balancer ? await measureBalancers(options, runDir, env, phase2Users, say) : [];
    const store = measureRedis(redis.port);
    const replication = options.replication
      ? await measureReplication(options, { runDir, secret, say, database }, phase2Writers)
      : null;
    // The design the quick run puts on the Cluster, and whose scaling the model is checked on: sessions in Redis.
    const reference: Design = "redis-session";
    const cluster: ClusterFigures | null = options.cluster
      ? await measureCluster(
          { ...options, designs: options.quick ? [reference] : options.designs },
          { runDir, secret, say, database },
          { readers: phase2Users, writers: phase2Writers },
        )
      : null;
    const capacity = capacityRows(
      [
        // "stateless (cost 14)" is a measurement, not a design: isDesign keeps it out.
        ...designs
          .filter((d) => isDesign(d.design) && !isPhase1(d.design))
          .map((d) => ({ ...d, store: "one Redis" as const })),
        ...(cluster?.runs ?? []).map((run) => ({ ...run, store: "Redis Cluster (3 primaries)" as const })),
      ],
      store.get_req_s ?? null,
    );
    const referenceRow =
      capacity.find((row) => row.design === reference && row.kind === "read" && row.store === "one Redis") ??
      capacity.find((row) => row.store === "one Redis");
    // The same question on this machine, where everything shares its cores.
    const capacityOnThisMachine = referenceRow ? oneMachineLimit(referenceRow, machine().cores) : null;
    let scaling: ScalingCheck | string = scalingCheckNote();
    if (!scaling) {
      const model = referenceRow?.design === reference ? referenceRow.instances_at_saturation : null;
      scaling = await measureScaling(reference, env, runDir, phase2Users, options.duration, model);
    }

    const info = {
      date: new Date().toISOString(),
      machine: machine(),
      node: process.versions.node,
      redis: redisVersion(),
      postgres: postgresVersion(),
      options: {
        duration_s: options.duration,
        rounds,
        max_rounds: maxRounds,
        ratio_spread: RATIO_SPREAD,
        users: options.users,
        connections: CONNECTIONS,
        quick: options.quick,
        designs: options.designs,
      },
      wall_s: Math.round((Date.now() - started) / 1000),
    };
    const report = {
      ...info,
      ceilings,
      peers: peerFigures,
      designs,
      memory,
      balancer,
      store,
      replication,
      cluster,
      capacity,
      capacity_on_this_machine: capacityOnThisMachine,
      scaling,
      goals: [] as Goal[],
      profiles: [] as Profile[],
    };
    report.goals = evaluateGoals(report);
    // Where a design misses a CPU goal on its read, say where the time goes.
    // --quick profiles the first one, to stay within its 3 minutes; a full run profiles them all.
    const missed = [
      ...new Set(
        report.goals
          .filter((g) => g.met === false && g.design && / read /.test(g.figure))
          .map((g) => g.design as Design),
      ),
    ];
    for (const design of options.quick ? missed.slice(0, 1) : missed) {
      say(`bench: profiling ${design} (its read goal was missed)`);
      const phase1 = isPhase1(design);
      report.profiles.push(
        await profileDesign(
          design,
          env,
          phase1 ? phase1Users : phase2Users,
          phase1 ? phase1Writers : phase2Writers,
          runDir,
          admin,
        ),
      );
    }
    report.options.designs = options.designs;
    const reports = reportsDir();
    mkdirSync(reports, { recursive: true });
    writeFileSync(path.join(reports, "bench.json"), `${JSON.stringify(report, null, 2)}\n`);
    const markdown = benchMarkdown(report);
    writeFileSync(path.join(reports, "bench.md"), markdown);
    process.stdout.write(
      `${markdown}\nReports: ${path.join(shownPath(reports), "bench.md")}, ${path.join(shownPath(reports), "bench.json")}\n`,
    );
    return 0;
  } finally {
    admin.disconnect();
    await seedPool.end();
    await instances.stop();
    await stopEverything();
    rmSync(runDir, { recursive: true, force: true });
  }
}

/** The same read with 3 instances: direct to one, through the built-in balancer, nginx and HAProxy. */
async function measureBalancers(
  options: BenchOptions,
  runDir: string,
  env: Record<string, string>,
  users: string[],
  say: (line: string) => void,
) {
  const parts = new Parts();
  const instances = Array.from({ length: 3 }, (_, i) =>
    parts.add(
      new ServerInstance({
        design: "redis-session",
        serverId: `lb-${i + 1}`,
        env: { ...env, LOG_LEVEL: "warn" },
        dir: runDir,
      }),
    ),
  );
  await Promise.all(instances.map((instance) => instance.start()));
  const backends = instances.map((instance) => ({ id: instance.serverId, url: instance.url }));
  const credentials = await logIn("redis-session", instances[0].url, users);
  // The built-in balancer in a process of its own, like nginx and HAProxy: not in this one,
  // whose event loop is busy generating the load.
  const builtin = parts.add(
    new ServerInstance({
      design: "redis-session",
      serverId: "builtin-balancer",
      env: {},
      dir: runDir,
      args: [
        compiledScript("processes", "balancer-process.js"),
        "round-robin",
        backends.map((backend) => backend.url).join(","),
      ],
      graceful: true,
    }),
  );
  await builtin.start();
  const targets: Array<{ name: string; url: string }> = [
    { name: "direct", url: instances[0].url },
    { name: "builtin", url: builtin.url },
  ];
  for (const name of ["nginx", "haproxy"] as const) {
    if (!findBalancer(name)) continue;
    const running = parts.add(
      await startRealBalancer(name, backends, "round-robin", path.join(runDir, `bench-${name}`)),
    );
    targets.push({ name, url: running.url });
  }
  const runs = new Map<string, LoadResult[]>(targets.map((target) => [target.name, []]));
  const balancerCpu: number[] = []; // the built-in balancer's own CPU per request: where its added latency comes from
  let balancerProfile: ReturnType<typeof summarise> | undefined;
  const serialMs = new Map<string, number>(); // ms per request, one connection
  try {
    for (const target of targets) await load(target.url, "read", credentials, Math.min(1, options.duration));
    for (let round = 1; round <= options.rounds; round += 1) {
      for (const target of targets) {
        for (const instance of instances) await waitUntilIdle(instance.pid);
        const result =
          target.name === "builtin"
            ? await loadAndTime(builtin.pid, target.url, "read", credentials, options.duration)
            : await load(target.url, "read", credentials, options.duration);
        if (result.cpu_us_per_req !== undefined) balancerCpu.push(result.cpu_us_per_req);
        runs.get(target.name)?.push(result);
        say(`[balancer ${round}/${options.rounds}] ${target.name}: ${result.req_s} req/s, p50 ${result.p50_ms} ms`);
      }
    }
    // Where the built-in balancer's time goes: a CPU profile of another one under the same reads (not in --quick).
    const profileDir = path.join(runDir, "profile-balancer");
    const profiled = parts.add(
      new ServerInstance({
        design: "redis-session",
        serverId: "profiled-balancer",
        env: {},
        dir: runDir,
        args: [
          "--cpu-prof",
          `--cpu-prof-dir=${profileDir}`,
          compiledScript("processes", "balancer-process.js"),
          "round-robin",
          backends.map((backend) => backend.url).join(","),
        ],
        graceful: true,
      }),
    );
    if (!options.quick) {
      // One request at a time: no queue for the cores, so what each hop itself adds to a
      // request (the p50 above, at 50 connections, is mostly waiting for a core).
      for (const target of targets) {
        for (const instance of instances) await waitUntilIdle(instance.pid);
        const alone = await load(target.url, "read", credentials, Math.min(2, options.duration), 1);
        if (alone.requests > 0 && alone.errors + alone.non2xx === 0)
          serialMs.set(target.name, Math.round((1000 / alone.req_s) * 1000) / 1000);
      }
      await profiled.start();
      await load(profiled.url, "read", credentials, Math.min(2, options.duration));
      await profiled.stop(); // the profile is written as the process exits
      const file = readdirSync(profileDir).find((name) => name.endsWith(".cpuprofile"));
      if (file) balancerProfile = summarise(JSON.parse(readFileSync(path.join(profileDir, file), "utf8")));
    }
  } finally {
    await parts.stop();
  }
  const direct = summarize(runs.get("direct") ?? []);
  return targets.map((target) => {
    const figures = summarize(runs.get(target.name) ?? []);
    const own =
      target.name === "builtin" && balancerCpu.length
        ? { balancer_cpu_us_per_req: median(balancerCpu), profile: balancerProfile }
        : {};
    const serial = serialMs.get(target.name);
    const serialDirect = serialMs.get("direct");
    const alone =
      serial !== undefined && serialDirect !== undefined
        ? { ms_per_req_alone: serial, added_ms_alone: Math.round((serial - serialDirect) * 1000) / 1000 }
        : {};
    return {
      name: target.name,
      ...figures,
      ratio_to_direct: ratio(figures.req_s, direct.req_s),
      p50_added_ms: Math.round((figures.p50_ms - direct.p50_ms) * 100) / 100,
      ...alone,
      ...own,
    };
  });
}

/** Redis's own limit: plain GET and SET with redis-benchmark, 50 clients. */
function measureRedis(port: number) {
  const run = spawnSync(
    "redis-benchmark",
    ["-h", "127.0.0.1", "-p", String(port), "-t", "get,set", "-n", "100000", "-c", "50", "-q", "--csv"],
    { encoding: "utf8", timeout: 60_000 },
  );
  if (run.status !== 0)
    return { tool: null, note: "redis-benchmark is not installed: no figure for Redis's own limit" };
  const rates: Record<string, number> = {};
  for (const line of run.stdout.split("\n")) {
    const match = /^"(GET|SET)","([\d.]+)"/.exec(line);
    if (match) rates[match[1].toLowerCase()] = Math.round(Number(match[2]));
  }
  return { tool: "redis-benchmark", clients: 50, get_req_s: rates.get ?? null, set_req_s: rates.set ?? null };
}

if (require.main === module) runProgram("bench", main);
