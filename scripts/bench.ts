// `npm run bench`: what each design costs, measured against its own data path, in one run
// (docs/how-the-lab-works.md, "The benchmark harness"; the figures are in docs/results.md).
// Ceilings and designs run interleaved, every configuration once per round, after a warm-up
// and a wait until the server is idle; the median of the rounds is reported, as a ratio first
// (absolute figures move from machine to machine).

import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import Redis from "ioredis";
import { FileDataStore } from "../phase1-mockup/src/domain/file-data-store";
import { RedisDataStore } from "../phase2-production/src/redis-data-store";
import { Ceiling, CEILINGS } from "./bench-ceilings";
import { CONNECTIONS, load, LoadResult, loadAndTime, logIn, median, rssBytes, seedUsers, waitUntilIdle } from "./bench-load";
import { Profile, profileDesign } from "./bench-profile";
import { cleanUpEarlierRuns, Instance, makeRunDir, REPO_ROOT, reportsDir } from "./processes";
import { findBalancer, RunningBalancer, startRealBalancer } from "./real-balancers";
import { findRedisServer, REDIS_MISSING_MESSAGE, startRedis, stopAllRedis } from "./redis-process";
import { machine } from "./report";
import { Design, DESIGNS, isPhase1 } from "./scenarios";
import { stopEverything } from "./stop-everything";

const SECRET = "bench-secret-shared-by-every-instance-0123456789";
const USAGE = "usage: npm run bench -- [--duration S] [--rounds N] [--design D] [--quick] [--no-memory] [--no-balancer]";

interface BenchOptions {
  duration: number;
  rounds: number;
  users: number;
  designs: Design[];
  memorySteps: number[];
  memory: boolean;
  balancer: boolean;
  quick: boolean;
}

function readOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: "string" },
      rounds: { type: "string" },
      design: { type: "string" },
      quick: { type: "boolean" },
      "no-memory": { type: "boolean" },
      "no-balancer": { type: "boolean" },
    },
  });
  const quick = values.quick ?? false;
  const number = (name: string, text: string | undefined, fallback: number) => {
    if (text === undefined) return fallback;
    if (!/^\d+(\.\d+)?$/.test(text) || Number(text) <= 0) throw new Error(`--${name} must be a positive number (got ${JSON.stringify(text)})`);
    return Number(text);
  };
  if (values.design !== undefined && !DESIGNS.includes(values.design as Design)) throw new Error(`--design must be one of ${DESIGNS.join(", ")}`);
  return {
    duration: number("duration", values.duration, quick ? 2 : 5),
    rounds: Math.round(number("rounds", values.rounds, quick ? 1 : 3)),
    users: quick ? 200 : 1000,
    designs: values.design ? [values.design as Design] : [...DESIGNS],
    memorySteps: quick ? [1000, 5000] : [1000, 5000, 20000],
    memory: !values["no-memory"],
    balancer: !values["no-balancer"],
    quick,
  };
}

interface Measured {
  name: string;
  kind: "read" | "write";
  runs: LoadResult[];
}

function summarize(runs: LoadResult[]) {
  const rates = runs.map((run) => run.req_s);
  return {
    req_s: Math.round(median(rates)),
    p50_ms: median(runs.map((run) => run.p50_ms)),
    p99_ms: median(runs.map((run) => run.p99_ms)),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
    cpu_us_per_req: runs.every((run) => run.cpu_us_per_req !== undefined) && runs.length ? median(runs.map((run) => run.cpu_us_per_req as number)) : null,
    spread: rates.length > 1 ? Math.round(((Math.max(...rates) - Math.min(...rates)) / Math.max(1, median(rates))) * 1000) / 1000 : 0,
  };
}

const ratio = (value: number, base: number) => (base > 0 ? Math.round((value / base) * 1000) / 1000 : null);

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = readOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const redisBinary = findRedisServer();
  if (!redisBinary) {
    say(`bench: ${REDIS_MISSING_MESSAGE}`);
    return 1;
  }
  for (const line of cleanUpEarlierRuns()) say(`bench: ${line}`);
  const runDir = makeRunDir();
  process.once("SIGINT", () => void stopEverything().finally(() => process.exit(130)));
  process.once("SIGTERM", () => void stopEverything().finally(() => process.exit(130)));
  const started = Date.now();

  // One Redis and one DATA_DIR, the same records for ceilings and designs.
  mkdirSync(path.join(runDir, "redis"), { recursive: true });
  const redis = await startRedis({ dir: path.join(runDir, "redis"), pidFile: path.join(runDir, "redis-server.pid") });
  const admin = new Redis(redis.url);
  const dataDir = path.join(runDir, "data");
  say(`bench: seeding ${options.users} readers and ${options.users} writers with one file each, in DATA_DIR and in Redis (PASSWORD_HASH_COST=10)`);
  // Readers keep exactly one file each, so every read lists the same records all run long;
  // uploads go to other users (writers), whose lists grow.
  const phase1Users = await seedUsers(new FileDataStore(dataDir), "bench", options.users, 10, SECRET);
  const phase2Users = await seedUsers(new RedisDataStore(admin, "lab:"), "bench", options.users, 10, SECRET);
  const phase1Writers = await seedUsers(new FileDataStore(dataDir), "writer", options.users, 10, SECRET);
  const phase2Writers = await seedUsers(new RedisDataStore(admin, "lab:"), "writer", options.users, 10, SECRET);
  const slowUsers = await seedUsers(new FileDataStore(dataDir), "slow", 50, 14, SECRET); // stateless at the default cost 14

  const env = { DATA_DIR: dataDir, REDIS_URL: redis.url, KEY_PREFIX: "lab:", SESSION_SECRET: SECRET, PASSWORD_HASH_COST: "10", RATE_LIMIT_PER_MINUTE: "1000000" };
  const instances: Instance[] = [];
  const start = async (name: string, design: Design, args?: string[]) => {
    const instance = new Instance({ design, serverId: name, env, logFile: path.join(runDir, `${name.replace(/[^a-z0-9+-]/gi, "_")}.log`), args });
    await instance.start();
    instances.push(instance);
    return instance;
  };

  try {
    // Every configuration: a server, what to send, and the users to send it as.
    const configs: Array<{ name: string; kind: "read" | "write"; instance: Instance; credentials: Array<Record<string, string>> }> = [];
    for (const ceiling of CEILINGS) {
      const instance = await start(ceiling, "stateless", [path.join(REPO_ROOT, "dist", "scripts", "bench-ceilings.js"), ceiling]);
      // The ceilings read as the same users as the designs do (phase1Users and phase2Users have the same names).
      configs.push({ name: ceiling, kind: "read", instance, credentials: phase1Users.map((name) => ({ "x-bench-user": name })) });
    }
    for (const design of options.designs) {
      const instance = await start(design, design);
      say(`bench: logging in ${options.users} users on ${design}`);
      const credentials = await logIn(design, instance.url, isPhase1(design) ? phase1Users : phase2Users);
      const writers = await logIn(design, instance.url, isPhase1(design) ? phase1Writers : phase2Writers);
      configs.push({ name: design, kind: "read", instance, credentials }, { name: design, kind: "write", instance, credentials: writers });
      if (design === "stateless") configs.push({ name: "stateless (cost 14)", kind: "read", instance, credentials: await logIn("stateless", instance.url, slowUsers) });
    }

    const measured: Measured[] = configs.map((config) => ({ name: config.name, kind: config.kind, runs: [] }));
    say(`bench: warming up ${configs.length} configurations`);
    for (const config of configs) await load(config.instance.url, config.kind, config.credentials, Math.min(1, options.duration));
    for (let round = 1; round <= options.rounds; round += 1) {
      for (const [index, config] of configs.entries()) {
        await waitUntilIdle(config.instance.pid);
        const result = await loadAndTime(config.instance.pid, config.instance.url, config.kind, config.credentials, options.duration);
        measured[index].runs.push(result);
        say(`[round ${round}/${options.rounds}] ${config.name} ${config.kind}: ${result.req_s} req/s, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms${result.errors || result.non2xx ? `, ${result.errors} errors, ${result.non2xx} non-2xx  <- NOT USED FOR A RATIO` : ""}`);
      }
    }

    const ceilings = CEILINGS.map((name: Ceiling) => {
      const figures = summarize(measured.find((m) => m.name === name)?.runs ?? []);
      return { name, req_s: figures.req_s, p50_ms: figures.p50_ms, p99_ms: figures.p99_ms, errors: figures.errors, cpu_us_per_req: figures.cpu_us_per_req, spread: figures.spread };
    });
    const ceilingOf = (name: string) => ceilings.find((ceiling) => ceiling.name === name)?.req_s ?? 0;
    const designs = measured
      .filter((m) => !CEILINGS.includes(m.name as Ceiling))
      .map((m) => {
        const figures = summarize(m.runs);
        const design = m.name.startsWith("stateless") ? "stateless" : (m.name as Design);
        const path_ceiling = isPhase1(design) ? "express+data_dir" : "express+redis";
        const clean = figures.errors === 0 && figures.non2xx === 0;
        return {
          design: m.name,
          kind: m.kind,
          ratio_to_ceiling: clean ? ratio(figures.req_s, ceilingOf(path_ceiling)) : null,
          ceiling: path_ceiling,
          ratio_to_express: clean ? ratio(figures.req_s, ceilingOf("express")) : null,
          ...figures,
        };
      });

    await Promise.all(instances.splice(0).map((instance) => instance.terminate()));
    const memory = options.memory ? await measureMemory(options, runDir, redis.url, admin, say) : [];
    const balancer = options.balancer ? await measureBalancers(options, runDir, env, phase2Users, say) : [];
    const store = measureRedis(redis.port);

    const info = {
      date: new Date().toISOString(),
      machine: machine(),
      node: process.versions.node,
      redis: /v=([\d.]+)/.exec(spawnSync(redisBinary, ["--version"], { encoding: "utf8" }).stdout)?.[1] ?? null,
      options: { duration_s: options.duration, rounds: options.rounds, users: options.users, connections: CONNECTIONS, quick: options.quick, designs: options.designs },
      wall_s: Math.round((Date.now() - started) / 1000),
    };
    const report = { ...info, ceilings, designs, memory, balancer, store, goals: [] as Goal[], profiles: [] as Profile[] };
    report.goals = evaluateGoals(report);
    // Where a design's read misses its goal, say where the time goes.
    for (const goal of report.goals.filter((g) => g.met === false && / read \//.test(g.figure))) {
      const design = goal.figure.split(" ")[0] as Design;
      say(`bench: profiling ${design} (its read goal was missed)`);
      const phase1 = isPhase1(design);
      report.profiles.push(await profileDesign(design, env, phase1 ? phase1Users : phase2Users, phase1 ? phase1Writers : phase2Writers, runDir, admin));
    }
    const reports = reportsDir();
    mkdirSync(reports, { recursive: true });
    writeFileSync(path.join(reports, "bench.json"), `${JSON.stringify(report, null, 2)}\n`);
    const markdown = benchMarkdown(report);
    writeFileSync(path.join(reports, "bench.md"), markdown);
    process.stdout.write(`${markdown}\nReports: reports/bench.md, reports/bench.json\n`);
    return 0;
  } finally {
    admin.disconnect();
    await Promise.all(instances.map((instance) => instance.kill()));
    await stopAllRedis();
    rmSync(runDir, { recursive: true, force: true });
  }
}

/** Server RSS (and Redis's used_memory) as live sessions grow: bytes per session. */
async function measureMemory(options: BenchOptions, runDir: string, redisUrl: string, admin: Redis, say: (line: string) => void) {
  // PASSWORD_HASH_COST=4 here: this part measures sessions, not hashing. The first 1,000 logins
  // only warm the server up (code paths, heap), so that the figures are per additional session.
  const most = Math.max(...options.memorySteps) + 1000;
  const users = await seedUsers(new FileDataStore(path.join(runDir, "memory-data")), "mem", most, 4, SECRET);
  await seedUsers(new RedisDataStore(admin, "mem:"), "mem", most, 4, SECRET);
  const results = [];
  for (const design of ["stateful", "memory-session", "cached-session", "redis-session"] as Design[]) {
    if (!options.designs.includes(design)) continue;
    const env = { DATA_DIR: path.join(runDir, "memory-data"), REDIS_URL: redisUrl, KEY_PREFIX: "mem:", SESSION_SECRET: SECRET, RATE_LIMIT_PER_MINUTE: "1000000", LOG_LEVEL: "warn", PASSWORD_HASH_COST: "4" };
    const instance = new Instance({ design, serverId: `memory-${design}`, env, logFile: path.join(runDir, `memory-${design}.log`) });
    await instance.start();
    await logIn(design, instance.url, users.slice(most - 1000)); // the warm-up
    await waitUntilIdle(instance.pid);
    // Bytes per session as the slope from the step before (the warm-up, then each step): the
    // fixed costs of a first burst of logins (heap growth, code caches) stay out of the figure.
    let previousRss = rssBytes(instance.pid as number);
    let previousRedis = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1] ?? 0);
    let done = 0;
    for (const step of options.memorySteps) {
      await logIn(design, instance.url, users.slice(done, step));
      const added = step - done;
      done = step;
      await waitUntilIdle(instance.pid);
      const rss = rssBytes(instance.pid as number);
      const redisMemory = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1] ?? 0);
      const entry = {
        design,
        sessions: step,
        server_rss_bytes: rss,
        server_bytes_per_session: Math.round((rss - previousRss) / added),
        redis_used_memory_bytes: design === "stateful" ? null : redisMemory,
        redis_bytes_per_session: design === "stateful" ? null : Math.round((redisMemory - previousRedis) / added),
      };
      previousRss = rss;
      previousRedis = redisMemory;
      results.push(entry);
      say(`[memory] ${design} at ${step} sessions: server ${entry.server_bytes_per_session} B/session${entry.redis_bytes_per_session !== null ? `, Redis ${entry.redis_bytes_per_session} B/session` : ""}`);
    }
    await instance.kill();
  }
  return results;
}

/** The same read with 3 instances: direct to one, through the built-in balancer, nginx and HAProxy. */
async function measureBalancers(options: BenchOptions, runDir: string, env: Record<string, string>, users: string[], say: (line: string) => void) {
  const instances = Array.from({ length: 3 }, (_, i) => new Instance({ design: "redis-session", serverId: `lb-${i + 1}`, env: { ...env, LOG_LEVEL: "warn" }, logFile: path.join(runDir, `lb-${i + 1}.log`) }));
  await Promise.all(instances.map((instance) => instance.start()));
  const backends = instances.map((instance) => ({ id: instance.serverId, url: instance.url }));
  const credentials = await logIn("redis-session", instances[0].url, users);
  // The built-in balancer in a process of its own, like nginx and HAProxy: not in this one,
  // whose event loop is busy generating the load.
  const builtin = new Instance({
    design: "redis-session",
    serverId: "builtin-balancer",
    env: {},
    logFile: path.join(runDir, "builtin-balancer.log"),
    args: [path.join(REPO_ROOT, "dist", "scripts", "balancer-process.js"), "round-robin", backends.map((backend) => backend.url).join(",")],
  });
  await builtin.start();
  const targets: Array<{ name: string; url: string }> = [
    { name: "direct", url: instances[0].url },
    { name: "builtin", url: builtin.url },
  ];
  const real: RunningBalancer[] = [];
  for (const name of ["nginx", "haproxy"] as const) {
    if (!findBalancer(name)) continue;
    const running = await startRealBalancer(name, backends, "round-robin", path.join(runDir, `bench-${name}`));
    real.push(running);
    targets.push({ name, url: running.url });
  }
  const runs = new Map<string, LoadResult[]>(targets.map((target) => [target.name, []]));
  try {
    for (const target of targets) await load(target.url, "read", credentials, Math.min(1, options.duration));
    for (let round = 1; round <= options.rounds; round += 1) {
      for (const target of targets) {
        for (const instance of instances) await waitUntilIdle(instance.pid);
        const result = await load(target.url, "read", credentials, options.duration);
        runs.get(target.name)?.push(result);
        say(`[balancer ${round}/${options.rounds}] ${target.name}: ${result.req_s} req/s, p50 ${result.p50_ms} ms`);
      }
    }
  } finally {
    await builtin.terminate();
    await Promise.all(real.map((balancer) => balancer.stop()));
    await Promise.all(instances.map((instance) => instance.kill()));
  }
  const direct = summarize(runs.get("direct") ?? []);
  return targets.map((target) => {
    const figures = summarize(runs.get(target.name) ?? []);
    return { name: target.name, ...figures, ratio_to_direct: ratio(figures.req_s, direct.req_s), p50_added_ms: Math.round((figures.p50_ms - direct.p50_ms) * 100) / 100 };
  });
}

/** Redis's own limit: plain GET and SET with redis-benchmark, 50 clients. */
function measureRedis(port: number) {
  const run = spawnSync("redis-benchmark", ["-h", "127.0.0.1", "-p", String(port), "-t", "get,set", "-n", "100000", "-c", "50", "-q", "--csv"], { encoding: "utf8", timeout: 60_000 });
  if (run.status !== 0) return { tool: null, note: "redis-benchmark is not installed: no figure for Redis's own limit" };
  const rates: Record<string, number> = {};
  for (const line of run.stdout.split("\n")) {
    const match = /^"(GET|SET)","([\d.]+)"/.exec(line);
    if (match) rates[match[1].toLowerCase()] = Math.round(Number(match[2]));
  }
  return { tool: "redis-benchmark", clients: 50, get_req_s: rates.get ?? null, set_req_s: rates.set ?? null };
}

interface Goal {
  figure: string;
  goal: string;
  measured: string;
  met: boolean | null; // null: not measured in this run
}

/** The goals of the benchmark issue, each read off this run's figures. */
function evaluateGoals(report: BenchReport): Goal[] {
  const read = (design: string) => report.designs.find((d) => d.design === design && d.kind === "read")?.ratio_to_ceiling ?? null;
  const atLeast = (figure: string, value: number | null, target: number): Goal => ({
    figure,
    goal: `>= ${target}`,
    measured: value === null ? "not measured" : value >= target ? String(value) : `${value} (${Math.round((target - value) * 1000) / 1000} short)`,
    met: value === null ? null : value >= target,
  });
  const goals = [
    atLeast("stateful read / express+data_dir", read("stateful"), 0.95),
    atLeast("jwt read / express+redis", read("jwt"), 0.85),
    atLeast("memory-session read / express+redis", read("memory-session"), 0.7),
    atLeast("redis-session read / express+redis", read("redis-session"), 0.65),
  ];
  const cached = read("cached-session");
  const redisSession = read("redis-session");
  goals.push({
    figure: "cached-session read / express+redis",
    goal: `>= redis-session's (${redisSession ?? "?"})`,
    measured: cached === null ? "not measured" : String(cached),
    met: cached === null || redisSession === null ? null : cached >= redisSession,
  });
  const builtin = report.balancer.find((b) => b.name === "builtin");
  goals.push({
    figure: "built-in balancer / direct (3 instances)",
    goal: ">= 0.6, p50 added <= 2 ms",
    measured: builtin ? `${builtin.ratio_to_direct}, p50 added ${builtin.p50_added_ms} ms` : "not measured",
    met: builtin ? (builtin.ratio_to_direct ?? 0) >= 0.6 && builtin.p50_added_ms <= 2 : null,
  });
  const largest = (design: string) => report.memory.filter((m) => m.design === design).sort((a, b) => b.sessions - a.sessions)[0];
  const stateful = largest("stateful");
  goals.push({
    figure: "stateful server RSS per session",
    goal: "<= 1024 B",
    measured: stateful ? `${stateful.server_bytes_per_session} B at ${stateful.sessions} sessions` : "not measured",
    met: stateful ? stateful.server_bytes_per_session <= 1024 : null,
  });
  const inRedis = largest("redis-session");
  goals.push({
    figure: "Redis bytes per session (redis-session)",
    goal: "<= 512 B",
    measured: inRedis ? `${inRedis.redis_bytes_per_session} B at ${inRedis.sessions} sessions` : "not measured",
    met: inRedis ? (inRedis.redis_bytes_per_session ?? Infinity) <= 512 : null,
  });
  return goals;
}

type BenchReport = {
  date: string;
  machine: { cores: number; cpu: string };
  node: string;
  redis: string | null;
  options: { duration_s: number; rounds: number; users: number };
  wall_s: number;
  ceilings: Array<{ name: string; req_s: number; p50_ms: number; p99_ms: number; errors: number; cpu_us_per_req: number | null; spread: number }>;
  designs: Array<{ design: string; kind: string; ratio_to_ceiling: number | null; ceiling: string; ratio_to_express: number | null; req_s: number; p50_ms: number; p99_ms: number; errors: number; non2xx: number; cpu_us_per_req: number | null; spread: number }>;
  memory: Array<{ design: string; sessions: number; server_bytes_per_session: number; redis_bytes_per_session: number | null }>;
  balancer: Array<{ name: string; req_s: number; p50_ms: number; ratio_to_direct: number | null; p50_added_ms: number }>;
  store: { get_req_s?: number | null; set_req_s?: number | null; note?: string };
  goals?: Goal[];
  profiles?: Profile[];
};

function benchMarkdown(report: BenchReport): string {
  const lines = [
    "# Benchmark: what each design costs",
    "",
    `Measured ${report.date} on ${report.machine.cores} cores (${report.machine.cpu}), Node ${report.node}, Redis ${report.redis}; ${report.options.rounds} round(s) of ${report.options.duration_s} s, ${report.options.users} logged-in users over ${CONNECTIONS} connections, median of the rounds; ${report.wall_s} s in all. autocannon shares the cores with the server: bare node:http is limited by the load generator, not the server.`,
    "",
    "## Goals",
    "",
    "| figure | goal | measured | met |",
    "|---|---|---|---|",
    ...(report.goals ?? []).map((g) => `| ${g.figure} | ${g.goal} | ${g.measured} | ${g.met === null ? "-" : g.met ? "yes" : "**no**"} |`),
    "",
    "## Each design against the ceiling of its own data path (ratios first)",
    "",
    "Server CPU per request is the server process's CPU time (user + system) during a run divided by the requests it answered: steadier than req/s when something else shares the machine, and the difference to the ceiling is what the session layer and its plumbing cost.",
    "",
    "| design | path | vs its ceiling | vs bare Express | req/s | p50 ms | p99 ms | server CPU µs/req | errors | spread |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...report.designs.map((d) => `| ${d.design} | ${d.kind} | ${d.ratio_to_ceiling ?? "n/a (errors)"} (${d.ceiling}) | ${d.ratio_to_express ?? "n/a"} | ${d.req_s} | ${d.p50_ms} | ${d.p99_ms} | ${d.cpu_us_per_req ?? "-"} | ${d.errors + d.non2xx ? `**${d.errors} errors, ${d.non2xx} non-2xx**` : 0} | ${d.spread} |`),
    "",
    "## Ceilings",
    "",
    "| ceiling | req/s | p50 ms | p99 ms | server CPU µs/req | spread |",
    "|---|---|---|---|---|---|",
    ...report.ceilings.map((c) => `| ${c.name} | ${c.req_s} | ${c.p50_ms} | ${c.p99_ms} | ${c.cpu_us_per_req ?? "-"} | ${c.spread} |`),
  ];
  const statelessRead = (name: string) => report.designs.find((d) => d.design === name && d.kind === "read")?.req_s ?? 0;
  const statefulRead = statelessRead("stateful");
  if (statelessRead("stateless") && statefulRead) {
    lines.push(
      "",
      `The goldfish's price: a stateless read re-hashes the password every time. At PASSWORD_HASH_COST=10 it serves ${Math.round((statelessRead("stateless") / statefulRead) * 1000) / 10}% of stateful's reads; at the default 14, ${Math.round((statelessRead("stateless (cost 14)") / statefulRead) * 1000) / 10}%.`,
    );
  }
  if (report.memory.length) {
    lines.push("", "## Memory as sessions grow", "", "Bytes per session are the growth from the step before, divided by the sessions added.", "", "| design | sessions | server bytes/session | Redis bytes/session |", "|---|---|---|---|");
    lines.push(...report.memory.map((m) => `| ${m.design} | ${m.sessions} | ${m.server_bytes_per_session} | ${m.redis_bytes_per_session ?? "-"} |`));
  }
  if (report.balancer.length) {
    lines.push("", "## The balancer's cost (redis-session read, 3 instances)", "", "| through | req/s | vs direct | p50 ms | p50 added ms |", "|---|---|---|---|---|");
    lines.push(...report.balancer.map((b) => `| ${b.name} | ${b.req_s} | ${b.ratio_to_direct} | ${b.p50_ms} | ${b.p50_added_ms} |`));
  }
  lines.push("", "## Redis's own limit", "", report.store.note ?? `redis-benchmark, 50 clients: GET ${report.store.get_req_s} req/s, SET ${report.store.set_req_s} req/s.`, "");
  for (const profile of report.profiles ?? []) {
    const commands = (per: Record<string, number> | null) =>
      per ? `${Math.round(Object.values(per).reduce((a, b) => a + b, 0) * 100) / 100} (${Object.entries(per).map(([name, n]) => `${name} ${n}`).join(", ")})` : "none (phase 1)";
    lines.push(
      `## Where ${profile.design}'s time goes (its read goal was missed)`,
      "",
      `Redis commands per read: ${commands(profile.redis_commands_per_read)}; per upload: ${commands(profile.redis_commands_per_write)}.`,
      "",
      "Server CPU profile under the read load (self time), by package: " + profile.top_packages.map((p) => `${p.name} ${p.percent}%`).join(", ") + ".",
      "",
      "Top functions: " + profile.top_functions.map((f) => `${f.name} ${f.percent}%`).join("; ") + ".",
      "",
    );
  }
  return lines.join("\n");
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error) => {
      console.error(`bench: ${(error as Error).stack ?? String(error)}`);
      void stopEverything().finally(() => process.exit(1));
    },
  );
}

