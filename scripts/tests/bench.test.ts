/**
 * @jest-environment ./test-support/machine-lock-environment.js
 * @machine-lock exclusive
 * @machine-heavy
 */
// A short benchmark (one design, 1 s, one round) as a smoke test of `npm run bench`: the report
// has every part that docs/how-the-lab-works.md ("The benchmark harness") describes (the
// textbook peer, CPU per request, the goals, the capacity section with Redis and PostgreSQL,
// the Redis Cluster), and everything was measured with zero errors. No test asserts a speed:
// speed is what the benchmark reports, not what it tests.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT, reportsDir } from "../processes/run-dir";
import { summarise } from "../bench/profile";
import { Pool } from "pg";
import { PostgresDataStore } from "../../phase2-production/src/data/postgres-data-store";
import { capacityRows, measureScaling, oneMachineLimit, postgresCpuSeconds } from "../bench/capacity";
import { cpuSeconds, seedUsers } from "../bench/load";
import { stopEverything, throwAwayDir } from "../processes/managed-process";
import { LAB_DATABASE, startLabPostgres } from "../processes/postgres";
import { startRedis } from "../processes/redis";
import { runSecret, serverEnvironment } from "../processes/server-env";
import { BenchReport, leftOutOfCapacity } from "../bench/report";

describe("npm run bench, short", () => {
  it("writes reports/bench.json and bench.md with ceilings, the textbook peer, CPU per request, goals, capacity with PostgreSQL and the Cluster, without errors", () => {
    const run = spawnSync(
      process.execPath,
      [
        path.join(REPO_ROOT, "dist", "scripts", "bench", "bench.js"),
        "--quick",
        "--duration",
        "1",
        "--design",
        "redis-session",
        "--no-memory",
      ],
      {
        encoding: "utf8",
        timeout: 240_000,
      },
    );
    expect(run.stderr).not.toContain("Error");
    expect(run.status).toBe(0);
    const report = JSON.parse(readFileSync(path.join(reportsDir(), "bench.json"), "utf8"));
    expect(Object.keys(report)).toEqual(
      expect.arrayContaining([
        "date",
        "machine",
        "node",
        "redis",
        "postgres",
        "options",
        "ceilings",
        "peers",
        "designs",
        "memory",
        "balancer",
        "store",
        "replication",
        "cluster",
        "capacity",
        "scaling",
        "goals",
        "profiles",
      ]),
    );
    // Every phase-2 design's read and write against its peer, stateful against its ceiling, the balancer, heap and Redis bytes.
    expect(report.goals.length).toBe(14);
    expect(
      report.goals
        .filter((goal: { met: boolean | null }) => goal.met !== null)
        .map((goal: { figure: string }) => goal.figure),
    ).toEqual(
      expect.arrayContaining([
        "redis-session read / textbook:redis-session, server CPU per request",
        "redis-session write / textbook:redis-session, server CPU per request",
        "built-in balancer / direct (3 instances)",
      ]),
    );
    expect(report.ceilings.map((c: { name: string }) => c.name)).toEqual([
      "node:http",
      "express",
      "express+data_dir",
      "express+postgres",
    ]);
    for (const ceiling of report.ceilings)
      expect(ceiling).toMatchObject({ errors: 0, req_s: expect.any(Number), cpu_us_per_req: expect.any(Number) });
    // phase 2's data path reads from PostgreSQL: its ceiling's requests cost PostgreSQL some CPU
    expect(
      report.ceilings.find((c: { name: string }) => c.name === "express+postgres").db_cpu_us_per_req,
    ).toBeGreaterThan(0);
    expect(report.peers.map((p: { name: string; kind: string }) => `${p.name} ${p.kind}`)).toEqual([
      "textbook:redis-session read",
      "textbook:redis-session write",
    ]);
    for (const peer of report.peers) {
      expect(peer).toMatchObject({ errors: 0, non2xx: 0 });
      expect(peer.cpu_us_per_req).toBeGreaterThan(0);
      expect(peer.redis_commands_per_req).toBeGreaterThan(1); // the session's GET and SET; the files are in PostgreSQL
      expect(peer.db_cpu_us_per_req).toBeGreaterThan(0);
    }
    expect(report.designs.map((d: { design: string; kind: string }) => `${d.design} ${d.kind}`)).toEqual([
      "redis-session read",
      "redis-session write",
    ]);
    for (const design of report.designs) {
      expect(design).toMatchObject({
        errors: 0,
        non2xx: 0,
        ceiling: "express+postgres",
        peer: "textbook:redis-session",
      });
      expect(design.cpu_ratio_to_peer).toBeGreaterThan(0);
      expect(design.redis_commands_per_req).toBeGreaterThan(1);
      expect(design.db_cpu_us_per_req).toBeGreaterThan(0);
    }
    expect(report.balancer.map((b: { name: string }) => b.name)).toEqual(expect.arrayContaining(["direct", "builtin"]));
    for (const balancer of report.balancer) expect(balancer.errors).toBe(0);
    expect(report.store.get_req_s).toBeGreaterThan(0);
    expect(report.replication).toMatchObject({ design: "redis-session", kind: "write", errors: 0 });
    expect(report.replication.ratio).toBeGreaterThan(0); // with WAIT / without, measured in the same run
    // The Cluster: six nodes, three primaries, the design's read and write without an error.
    expect(report.cluster).toMatchObject({ nodes: 6, primaries: 3 });
    expect(report.cluster.runs.map((r: { design: string; kind: string }) => `${r.design} ${r.kind}`)).toEqual([
      "redis-session read",
      "redis-session write",
    ]);
    for (const run of report.cluster.runs) {
      expect(run).toMatchObject({ errors: 0, non2xx: 0 });
      expect(run.busiest_node_cpu_us_per_req).toBeLessThan(run.redis_cpu_us_per_req); // three primaries share the work
    }
    // Capacity: one row per path and store, the arithmetic shown, the instance count consistent with it.
    const rows = report.capacity.map(
      (row: { design: string; kind: string; store: string }) => `${row.design} ${row.kind} ${row.store}`,
    );
    expect(rows).toEqual([
      "redis-session read one Redis",
      "redis-session write one Redis",
      "redis-session read Redis Cluster (3 primaries)",
      "redis-session write Redis Cluster (3 primaries)",
    ]);
    for (const row of report.capacity) {
      expect(row.instances_at_saturation).toBeCloseTo(row.server_cpu_us_per_req / row.saturating_cpu_us_per_req, 0);
      if (row.store === "one Redis") expect(row.saturating_cpu_us_per_req).toBe(row.redis_cpu_us_per_req);
      expect(row.arithmetic).toContain(`= ${row.instances_at_saturation} instances`);
      // PostgreSQL, measured over the same runs: how many instances a core of it keeps up with, and which limit comes first
      expect(row.db_cpu_us_per_req).toBeGreaterThan(0);
      expect(row.instances_per_db_core).toBeCloseTo(row.server_cpu_us_per_req / row.db_cpu_us_per_req, 0);
      expect(row.arithmetic).toContain(`= ${row.instances_per_db_core} instances per PostgreSQL core`);
      expect(row.first_limit).toMatch(
        /PostgreSQL core \d+ req\/s .*: (with PostgreSQL on fewer than|Redis comes first)/,
      );
    }
    // The same question on this machine, whose cores run the instances, Redis and PostgreSQL together
    expect(report.capacity_on_this_machine).toMatch(
      /^redis-session read on one machine of \d+ cores .*: a request costs server \d+ \+ Redis \d+ \+ PostgreSQL \d+ = \d+ µs of CPU/,
    );
    const markdown = readFileSync(path.join(reportsDir(), "bench.md"), "utf8");
    for (const heading of [
      "## Goals",
      "## Against the textbook app (server CPU per request)",
      "## Capacity: how many instances one Redis and PostgreSQL serve",
      "## On a Redis Cluster (3 primaries, 3 replicas)",
      "## The price of safe replication",
    ])
      expect(markdown).toContain(heading);
    expect(markdown).toMatch(/\| redis-session \| read \| \d+ \| textbook:redis-session \| \d+ \|/);
  }, 300_000);
});

describe("the memory part's heap probe", () => {
  it("answers SIGUSR2 with the heap in use after a full garbage collection, written to BENCH_HEAP_FILE", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "heap-probe-"));
    const file = path.join(dir, "heap.json");
    const probe = path.join(REPO_ROOT, "dist", "scripts", "bench", "heap-probe.js");
    // A process that holds about 8 MB of live strings, and makes garbage of the same size.
    const child = spawn(
      process.execPath,
      [
        "--expose-gc",
        "--require",
        probe,
        "-e",
        "globalThis.kept = Array.from({ length: 2e5 }, (_, i) => 'x'.repeat(32) + i); for (let i = 0; i < 2e5; i++) 'y'.repeat(32) + i; setInterval(() => {}, 1000)",
      ],
      {
        env: { ...process.env, BENCH_HEAP_FILE: file },
        stdio: "ignore",
      },
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      child.kill("SIGUSR2");
      for (let waited = 0; waited < 5000 && !existsSync(file); waited += 50)
        await new Promise((resolve) => setTimeout(resolve, 50));
      const usage = JSON.parse(readFileSync(file, "utf8"));
      expect(usage.heapUsed).toBeGreaterThan(8e6); // the kept strings are there
      expect(usage.heapUsed).toBeLessThan(usage.heapTotal);
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the profile's summary", () => {
  it("gives self time by package and by function, as a share of the time the process was not idle", () => {
    const frame = (id: number, functionName: string, url: string) => ({
      id,
      callFrame: { functionName, url, lineNumber: 9 },
    });
    const summary = summarise({
      nodes: [
        frame(1, "(idle)", ""),
        frame(2, "handle", "file:///app/node_modules/express/lib/router.js"),
        frame(3, "(garbage collector)", ""),
        frame(4, "listFiles", "file:///app/dist/postgres-data-store.js"),
      ],
      samples: [1, 2, 2, 3, 4, 1],
      timeDeltas: [500, 30, 30, 20, 20, 500],
    });
    expect(summary.top_packages).toEqual([
      { name: "express", percent: 60 },
      { name: "(garbage collector)", percent: 20 },
      { name: "postgres-data-store.js", percent: 20 },
    ]);
    expect(summary.top_functions[0]).toEqual({ name: "handle express:10", percent: 60 });
  });
});

describe("the capacity model", () => {
  const figure = {
    design: "redis-session",
    kind: "read" as const,
    store: "one Redis" as const,
    cpu_us_per_req: 330,
    redis_commands_per_req: 4,
    redis_cpu_us_per_req: 16,
    db_cpu_us_per_req: 40,
    errors: 0,
    non2xx: 0,
  };

  it("divides the server's CPU per request by Redis's and by PostgreSQL's, and shows the arithmetic", () => {
    const [row] = capacityRows([figure], 100_000);
    expect(row).toMatchObject({
      instances_at_saturation: 20.6,
      requests_per_s_per_instance: 3030,
      instances_by_redis_benchmark: 8.3,
      db_cpu_us_per_req: 40,
      instances_per_db_core: 8.3,
      db_cores_to_outlast_redis: 3,
    });
    expect(row.arithmetic).toBe(
      "server 330 µs / Redis 16 µs = 20.6 instances; each sends 3030 req/s × 4 commands = 12120 commands/s; server 330 µs / PostgreSQL 40 µs = 8.3 instances per PostgreSQL core",
    );
    // PostgreSQL spends 2.5 times Redis's CPU on a request: on 1 or 2 cores it stops the instances before Redis does
    expect(row.first_limit).toBe(
      "one Redis core serves 62500 req/s (1e6 / 16 µs), one PostgreSQL core 25000 req/s (1e6 / 40 µs), each instance 3030 req/s (1e6 / 330 µs): with PostgreSQL on fewer than 3 cores (40 / 16 = 2.5), PostgreSQL comes first, at 8.3 instances per core; on 3 or more, Redis, at 20.6 instances",
    );
    // Cheaper than Redis per request, PostgreSQL on one core outlasts it
    const [cheap] = capacityRows([{ ...figure, db_cpu_us_per_req: 12 }], null);
    expect(cheap).toMatchObject({ instances_per_db_core: 27.5, db_cores_to_outlast_redis: 1 });
    expect(cheap.first_limit).toContain(
      ": Redis comes first, at 20.6 instances, even with PostgreSQL on one core (which keeps up with 27.5)",
    );
    // A request that sends Redis nothing (memory-session's sessions live in the instance): PostgreSQL is the only store limit
    const [noRedis] = capacityRows(
      [{ ...figure, design: "memory-session", redis_commands_per_req: 0, redis_cpu_us_per_req: 1 }],
      100_000,
    );
    expect(noRedis).toMatchObject({
      instances_at_saturation: null,
      instances_by_redis_benchmark: null,
      instances_per_db_core: 8.3,
    });
    expect(noRedis.arithmetic).toBe(
      "no Redis command (0 per request); server 330 µs / PostgreSQL 40 µs = 8.3 instances per PostgreSQL core",
    );
    expect(noRedis.first_limit).toBe(
      "Redis is not on this path; one PostgreSQL core 25000 req/s (1e6 / 40 µs), each instance 3030 req/s (1e6 / 330 µs): PostgreSQL comes first, at 8.3 instances per core",
    );
    // All on one machine: every request costs the three together, and 2 cores run out long before Redis
    expect(oneMachineLimit(row, 2)).toBe(
      "redis-session read on one machine of 2 cores running the instances, Redis and PostgreSQL: a request costs server 330 + Redis 16 + PostgreSQL 40 = 386 µs of CPU, so 2 cores serve at most 2 × 1e6 / 386 = 5181 req/s; the cores run out first, below Redis's 62500 req/s, until there are 25 of them.",
    );
  });

  it("counts PostgreSQL's CPU in its children, and in those that ended (its cutime and cstime)", async () => {
    // A parent that only waits, and a child that burns 0.4 s of CPU and exits, as a backend does when its connection closes.
    const burn = "const t0 = process.cpuUsage(); while (process.cpuUsage(t0).user < 400000);";
    const parent = spawn(
      process.execPath,
      [
        "-e",
        `require("node:child_process").spawn(process.execPath, ["-e", ${JSON.stringify(burn)}]).on("exit", () => process.stdout.write("done\\n")); setInterval(() => {}, 1000);`,
      ],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    try {
      const before = postgresCpuSeconds(parent.pid as number) as number;
      await new Promise((resolve) => parent.stdout.once("data", resolve)); // the child has exited, and was reaped
      const after = postgresCpuSeconds(parent.pid as number) as number;
      expect(after - before).toBeGreaterThanOrEqual(0.3);
      expect(cpuSeconds(parent.pid as number)).toBeLessThan(after - 0.3); // the parent's own time is not where it came from
    } finally {
      parent.kill("SIGKILL");
    }
  });

  it("leaves out a run whose requests failed, and the report says which and how", () => {
    // A run answered 503 at once measures failing fast, not the work (a full run's atomic-session uploads on the Cluster once did).
    const failed = {
      ...figure,
      design: "atomic-session",
      kind: "write" as const,
      store: "Redis Cluster (3 primaries)" as const,
      non2xx: 43082,
      statuses: { "503": 43082 },
    };
    expect(capacityRows([figure, failed], null).map((row) => row.design)).toEqual(["redis-session"]);
    const report = {
      designs: [],
      cluster: {
        nodes: 6,
        primaries: 3,
        runs: [{ ...failed, req_s: 3091, p50_ms: 15, p99_ms: 37, busiest_node_cpu_us_per_req: 14 }],
        failovers: [],
        scaling_check: "",
      },
    };
    expect(leftOutOfCapacity(report as unknown as BenchReport)).toEqual([
      "Left out, because their requests failed: atomic-session write on the Cluster (0 errors, 43082 non-2xx (503 ×43082)).",
    ]);
  });
});

describe("the capacity model's check against a measurement", () => {
  // It runs by itself only on 4 cores or more (two instances, Redis and the load generator each
  // need one); here it runs on whatever the machine has, to check what it reports, not how fast.
  afterAll(() => stopEverything());

  it("reads one instance alone, then two at once, and sets the measured ratio beside the model's (at most 2)", async () => {
    const dir = throwAwayDir("lab-scaling-");
    // Each in a throw-away folder of its own: Redis for the sessions, PostgreSQL for the users and files.
    const [redis, { server: postgres }] = await Promise.all([
      startRedis(),
      startLabPostgres(throwAwayDir("lab-scaling-postgres-")),
    ]);
    const databaseUrl = postgres.url(LAB_DATABASE);
    const pool = new Pool({ connectionString: databaseUrl });
    const secret = runSecret();
    const users = await seedUsers(new PostgresDataStore(pool), "scaling", 20, 10, secret).finally(() => pool.end());
    const env = serverEnvironment({ secret, dataDir: path.join(dir, "data"), databaseUrl, redisUrl: redis.url });

    const check = await measureScaling("redis-session", env, dir, users, 1, 1.4);
    expect(check).toMatchObject({ design: "redis-session", model_ratio: 1.4 });
    expect(check.one_instance_req_s).toBeGreaterThan(0);
    expect(check.two_instances_req_s).toBeGreaterThan(0);
    expect(check.measured_ratio).toBe(Math.round((check.two_instances_req_s / check.one_instance_req_s) * 100) / 100);
    // A model that says Redis saturates past 2 instances predicts twice the reads of one.
    expect((await measureScaling("redis-session", env, dir, users.slice(0, 5), 1, 21)).model_ratio).toBe(2);
  }, 60_000);
});
