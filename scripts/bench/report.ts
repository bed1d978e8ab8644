// The benchmark's report: the goals of the benchmark issue read off one run's figures, and
// reports/bench.md, ratios first. Run by bench.ts; explained in docs/how-the-lab-works.md
// ("The benchmark harness"); the figures of record are in docs/results.md.

import { DESIGNS, textbookPeer } from "../designs";
import { CONNECTIONS } from "./load";
import { Profile } from "./profile";
import type { ReplicationFigures } from "./replication";
import type { CapacityRow, ClusterFigures, ScalingCheck } from "./capacity";

export interface Goal {
  figure: string;
  goal: string;
  measured: string;
  met: boolean | null; // null: not measured in this run
  /** The design the goal is about, where there is one (the profile is taken for it when missed). */
  design?: string;
}

const r3 = (value: number) => Math.round(value * 1000) / 1000;

/** The goals of the benchmark issues, each read off this run's figures: CPU per request first. */
export function evaluateGoals(report: BenchReport): Goal[] {
  const entry = (design: string, kind: string) => report.designs.find((d) => d.design === design && d.kind === kind);
  const atMost = (
    figure: string,
    value: number | null | undefined,
    target: number,
    design?: string,
    extra = "",
  ): Goal => ({
    figure,
    goal: `<= ${target}`,
    measured:
      value === null || value === undefined
        ? "not measured"
        : `${value}${value <= target ? "" : ` (${r3(value - target)} over)`}${extra}`,
    met: value === null || value === undefined ? null : value <= target,
    design,
  });
  const goals: Goal[] = [];
  // Cheaper than the tutorial's app while doing more: logs, metrics, validation, request ids, a rate limit.
  for (const design of DESIGNS) {
    const peer = textbookPeer(design);
    if (!peer) continue;
    for (const kind of ["read", "write"]) {
      const d = entry(design, kind);
      goals.push(
        atMost(
          `${design} ${kind} / ${peer}, server CPU per request`,
          d?.cpu_ratio_to_peer,
          0.9,
          design,
          d?.cpu_us_per_req
            ? ` (${d.cpu_us_per_req} µs against ${report.peers?.find((p) => p.name === peer && p.kind === kind)?.cpu_us_per_req ?? "?"})`
            : "",
        ),
      );
    }
  }
  const stateful = entry("stateful", "read");
  goals.push(
    atMost(
      "stateful read / express+data_dir, server CPU per request",
      stateful?.cpu_ratio_to_ceiling,
      1.05,
      "stateful",
    ),
  );
  const builtin = report.balancer.find((b) => b.name === "builtin");
  goals.push({
    figure: "built-in balancer / direct (3 instances)",
    goal: ">= 0.8, p50 added <= 2 ms",
    measured: builtin ? `${builtin.ratio_to_direct}, p50 added ${builtin.p50_added_ms} ms` : "not measured",
    met: builtin ? (builtin.ratio_to_direct ?? 0) >= 0.8 && builtin.p50_added_ms <= 2 : null,
  });
  const largest = (design: string) =>
    report.memory.filter((m) => m.design === design).sort((a, b) => b.sessions - a.sessions)[0];
  // The last step (5,000 to 20,000 sessions in a full run): the earlier ones also carry V8's
  // first heap growth, paid once. The V8 heap after a full collection is what the sessions hold.
  const sessions = largest("stateful");
  const heap = sessions?.server_heap_bytes_per_session;
  goals.push({
    figure: "stateful V8 heap per session",
    goal: "<= 512 B",
    measured:
      !sessions || heap === null || heap === undefined
        ? "not measured"
        : `${heap} B at ${sessions.sessions} sessions (RSS: ${sessions.server_bytes_per_session} B)`,
    met: heap === null || heap === undefined ? null : heap <= 512,
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

type Figures = {
  req_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  cpu_us_per_req: number | null;
  spread: number;
  cpu_spread?: number | null;
  db_cpu_us_per_req?: number | null;
};

export type BenchReport = {
  date: string;
  machine: { cores: number; cpu: string };
  node: string;
  redis: string | null;
  postgres?: string | null;
  options: { duration_s: number; rounds: number; max_rounds?: number; ratio_spread?: number; users: number };
  wall_s: number;
  ceilings: Array<{ name: string } & Figures>;
  peers?: Array<{ name: string; kind: string; redis_commands_per_req?: number | null } & Figures>;
  designs: Array<
    {
      design: string;
      kind: string;
      ratio_to_ceiling: number | null;
      ceiling: string;
      ratio_to_express: number | null;
      non2xx: number;
      statuses?: Record<string, number>;
      cpu_ratio_to_ceiling?: number | null;
      peer?: string | null;
      cpu_ratio_to_peer?: number | null;
      cpu_ratio_spread?: number | null;
      redis_commands_per_req?: number | null;
      redis_cpu_us_per_req?: number | null;
    } & Figures
  >;
  memory: Array<{
    design: string;
    sessions: number;
    server_rss_bytes: number;
    server_heap_bytes: number | null;
    server_bytes_per_session: number;
    server_heap_bytes_per_session: number | null;
    redis_bytes_per_session: number | null;
  }>;
  balancer: Array<{
    name: string;
    req_s: number;
    p50_ms: number;
    ratio_to_direct: number | null;
    p50_added_ms: number;
    ms_per_req_alone?: number;
    added_ms_alone?: number;
    balancer_cpu_us_per_req?: number;
    profile?: Pick<Profile, "top_packages" | "top_functions">;
  }>;
  store: { get_req_s?: number | null; set_req_s?: number | null; note?: string };
  replication?: ReplicationFigures | null;
  cluster?: ClusterFigures | null;
  capacity?: CapacityRow[];
  /** The capacity question asked of this machine, whose cores run everything (capacity.ts, oneMachineLimit). */
  capacity_on_this_machine?: string | null;
  scaling?: ScalingCheck | string;
  goals?: Goal[];
  profiles?: Profile[];
};

export function benchMarkdown(report: BenchReport): string {
  const lines = [
    "# Benchmark: what each design costs",
    "",
    `Measured ${report.date} on ${report.machine.cores} cores (${report.machine.cpu}), Node ${report.node}, Redis ${report.redis}${report.postgres ? `, PostgreSQL ${report.postgres}` : ""}; ${report.options.rounds} round(s) of ${report.options.duration_s} s${report.options.max_rounds && report.options.max_rounds > report.options.rounds ? ` (the rounds stop once every CPU ratio holds within ${(report.options.ratio_spread ?? 0.1) * 100}%, at most ${report.options.max_rounds})` : report.options.max_rounds ? ` (at most ${report.options.max_rounds})` : ""}, ${report.options.users} logged-in users over ${CONNECTIONS} connections, median of the rounds; ${report.wall_s} s in all. autocannon shares the cores with the server: bare node:http is limited by the load generator, not the server. Goals are read on server CPU per request, what the server spends on one request whatever else runs beside it; each ratio's spread over the rounds says how far to trust it.`,
    "",
    "## Goals",
    "",
    "| figure | goal | measured | met |",
    "|---|---|---|---|",
    ...(report.goals ?? []).map(
      (g) => `| ${g.figure} | ${g.goal} | ${g.measured} | ${g.met === null ? "-" : g.met ? "yes" : "**no**"} |`,
    ),
    "",
    "## Against the textbook app (server CPU per request)",
    "",
    "Each phase-2 design against the app a tutorial would write for the same work (scripts/bench/textbook.ts: express-session with its MemoryStore or connect-redis, or jose; the request counted in the session, the same user's files listed from the same PostgreSQL with one plain query, an upload through the lab's own transaction; no logs, metrics, validation or rate limit). The ratio is the median of the rounds' ratios; its spread is how far they moved.",
    "",
    "| design | path | server CPU µs/req | its peer | peer CPU µs/req | ratio | spread | Redis commands/req (design, peer) | req/s (design, peer) |",
    "|---|---|---|---|---|---|---|---|---|",
    ...report.designs
      .filter((d) => d.peer)
      .map((d) => {
        const peer = report.peers?.find((p) => p.name === d.peer && p.kind === d.kind);
        return `| ${d.design} | ${d.kind} | ${d.cpu_us_per_req ?? "-"} | ${d.peer} | ${peer?.cpu_us_per_req ?? "-"} | ${d.cpu_ratio_to_peer ?? "-"} | ${d.cpu_ratio_spread ?? "-"} | ${d.redis_commands_per_req ?? "-"}, ${peer?.redis_commands_per_req ?? "-"} | ${d.req_s}, ${peer?.req_s ?? "-"} |`;
      }),
    "",
    "## Each design against the ceiling of its own data path (ratios first)",
    "",
    "Server CPU per request is the server process's CPU time (user + system) during a run divided by the requests it answered: steadier than req/s when something else shares the machine, and the difference to the ceiling is what the session layer and its plumbing cost.",
    "",
    "| design | path | req/s vs its ceiling | vs bare Express | req/s | p50 ms | p99 ms | server CPU µs/req | CPU vs its ceiling | Redis commands/req | PostgreSQL CPU µs/req | errors | req/s spread |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...report.designs.map(
      (d) =>
        `| ${d.design} | ${d.kind} | ${d.ratio_to_ceiling ?? "n/a (errors)"} (${d.ceiling}) | ${d.ratio_to_express ?? "n/a"} | ${d.req_s} | ${d.p50_ms} | ${d.p99_ms} | ${d.cpu_us_per_req ?? "-"} | ${d.cpu_ratio_to_ceiling ?? "-"} | ${d.redis_commands_per_req ?? "-"} | ${d.ceiling === "express+postgres" ? (d.db_cpu_us_per_req ?? "-") : "-"} | ${d.errors + d.non2xx ? `**${d.errors} errors, ${d.non2xx} non-2xx**` : 0} | ${d.spread} |`,
    ),
    "",
    "## Ceilings",
    "",
    "| ceiling | req/s | p50 ms | p99 ms | server CPU µs/req | PostgreSQL CPU µs/req | req/s spread | CPU spread |",
    "|---|---|---|---|---|---|---|---|",
    ...report.ceilings.map(
      (c) =>
        `| ${c.name} | ${c.req_s} | ${c.p50_ms} | ${c.p99_ms} | ${c.cpu_us_per_req ?? "-"} | ${c.name === "express+postgres" ? (c.db_cpu_us_per_req ?? "-") : "-"} | ${c.spread} | ${c.cpu_spread ?? "-"} |`,
    ),
  ];
  const statelessRead = (name: string) =>
    report.designs.find((d) => d.kind === "read" && d.design === name)?.req_s ?? 0;
  const statefulRead = statelessRead("stateful");
  if (statelessRead("stateless") && statefulRead) {
    lines.push(
      "",
      `The goldfish's price: a stateless read re-hashes the password every time. At PASSWORD_HASH_COST=10 it serves ${Math.round((statelessRead("stateless") / statefulRead) * 1000) / 10}% of stateful's reads${statelessRead("stateless (cost 14)") ? `; at the default 14, ${Math.round((statelessRead("stateless (cost 14)") / statefulRead) * 1000) / 10}%` : " (the default cost 14 is measured without --quick)"}.`,
    );
  }
  if (report.memory.length) {
    lines.push(
      "",
      "## Memory as sessions grow",
      "",
      "Bytes per session are the growth from the step before, divided by the sessions added: of the server's RSS, of its V8 heap in use after a full garbage collection (what the live sessions hold), and of Redis's used_memory. RSS also carries the logins' garbage and V8's own heap growth, which comes in steps: read it over many sessions.",
      "",
      "| design | sessions | server RSS bytes/session | server V8 heap bytes/session | Redis bytes/session |",
      "|---|---|---|---|---|",
    );
    lines.push(
      ...report.memory.map(
        (m) =>
          `| ${m.design} | ${m.sessions} | ${m.server_bytes_per_session} | ${m.server_heap_bytes_per_session ?? "-"} | ${m.redis_bytes_per_session ?? "-"} |`,
      ),
    );
  }
  if (report.balancer.length) {
    lines.push(
      "",
      "## The balancer's cost (redis-session read, 3 instances)",
      "",
      "| through | req/s | vs direct | p50 ms | p50 added ms | one request at a time: ms per request (added) | the balancer's own CPU µs/req |",
      "|---|---|---|---|---|---|---|",
    );
    lines.push(
      ...report.balancer.map(
        (b) =>
          `| ${b.name} | ${b.req_s} | ${b.ratio_to_direct} | ${b.p50_ms} | ${b.p50_added_ms} | ${b.ms_per_req_alone === undefined ? "-" : `${b.ms_per_req_alone} (${b.added_ms_alone})`} | ${b.balancer_cpu_us_per_req ?? "-"} |`,
      ),
    );
    lines.push(
      "",
      report.balancer.some((b) => b.added_ms_alone !== undefined)
        ? "p50 is read at 50 connections, where requests wait for a core; one request at a time over one connection (up to 2 s each), nothing waits, and what remains is the hop itself: the time per request, and in brackets what the hop adds to direct."
        : "p50 is read at 50 connections, where requests wait for a core. What the hop itself adds, one request at a time, is measured in a full run only (not with --quick).",
    );
    const profile = report.balancer.find((b) => b.profile)?.profile;
    if (profile) {
      lines.push(
        "",
        "Where the built-in balancer's time goes (a CPU profile of it under the same reads, self time): " +
          profile.top_packages.map((p) => `${p.name} ${p.percent}%`).join(", ") +
          ". `writev` is the kernel's side of the socket writes (on loopback, sending runs the receiver's TCP stack too): a proxy writes every request twice, to the backend and back to the client, and one Node process doing both on a core that the backends and the load generator share is where the added milliseconds come from.",
      );
    }
  }
  if (report.replication) {
    const r = report.replication;
    lines.push(
      "",
      "## The price of safe replication (redis-session write, replicated Redis)",
      "",
      "A primary, two replicas and three Sentinels; the same uploads with and without `REDIS_WAIT_REPLICAS=1` (a `WAIT` for one replica after every acknowledged write).",
      "",
      "| | req/s | p50 ms | p99 ms |",
      "|---|---|---|---|",
      `| without WAIT | ${r.without_wait.req_s} | ${r.without_wait.p50_ms} | ${r.without_wait.p99_ms} |`,
      `| with WAIT 1 | ${r.with_wait.req_s} | ${r.with_wait.p50_ms} | ${r.with_wait.p99_ms} |`,
      "",
      r.ratio === null
        ? `No ratio: ${r.errors} errors or non-2xx answers.`
        : `With WAIT / without: ${r.ratio} of the requests per second.`,
    );
  }
  lines.push(
    "",
    "## Redis's own limit",
    "",
    report.store.note ??
      `redis-benchmark, 50 clients: GET ${report.store.get_req_s} req/s, SET ${report.store.set_req_s} req/s.`,
    "",
  );
  if (report.capacity?.length) {
    lines.push(
      "## Capacity: how many instances one Redis and PostgreSQL serve",
      "",
      "Every instance sends Redis every request's commands, and one Redis runs them on one core. Each instance on a core of its own serves 1,000,000 / (server CPU µs per request) requests a second; Redis saturates when the instances together need a whole core of it: instances = server CPU per request / Redis CPU per request (Redis's own CPU time during the run, over the requests). On a Cluster the busiest primary decides. The redis-benchmark column is the same question asked with Redis's plain GET rate (no pipelining, so a lower bound). PostgreSQL's CPU per request is that of all its processes over the same run (the postmaster, a backend per connection, and those that ended during the run); it runs a process per connection, so it spreads over its cores: one core of it keeps up with server CPU / PostgreSQL CPU instances, and it is the first limit while it has fewer cores than PostgreSQL CPU / Redis CPU per request.",
      "",
      ...leftOutOfCapacity(report).map((line) => `${line}\n`),
      "| design | path | store | server CPU µs/req | req/s per instance | Redis commands/req | Redis CPU µs/req | instances at saturation | by redis-benchmark's GET rate | PostgreSQL CPU µs/req | instances per PostgreSQL core | the arithmetic |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|",
      ...report.capacity.map(
        (row) =>
          `| ${row.design} | ${row.kind} | ${row.store} | ${row.server_cpu_us_per_req} | ${row.requests_per_s_per_instance} | ${row.redis_commands_per_req} | ${row.redis_cpu_us_per_req} | ${row.instances_at_saturation ?? "-"} | ${row.instances_by_redis_benchmark ?? "-"} | ${row.db_cpu_us_per_req ?? "-"} | ${row.instances_per_db_core ?? "-"} | ${row.arithmetic} |`,
      ),
      "",
      "Which limit comes first, each instance on a core of its own:",
      "",
      ...report.capacity.map((row) => `- ${row.design} ${row.kind}, ${row.store}: ${row.first_limit}.`),
      "",
      ...(report.capacity_on_this_machine ? [report.capacity_on_this_machine, ""] : []),
      typeof report.scaling === "string" || !report.scaling
        ? `Checked against a measurement: ${report.scaling || "not measured"}.`
        : `Checked against a measurement: ${report.scaling.design} reads on one instance ${report.scaling.one_instance_req_s} req/s, on two at once ${report.scaling.two_instances_req_s} req/s: ${report.scaling.measured_ratio}x, where the model says ${report.scaling.model_ratio}x.`,
      "",
    );
  }
  if (report.cluster) {
    const single = (design: string, kind: string) => report.designs.find((d) => d.design === design && d.kind === kind);
    lines.push(
      `## On a Redis Cluster (${report.cluster.primaries} primaries, ${report.cluster.nodes - report.cluster.primaries} replicas)`,
      "",
      "The same reads and uploads with the servers on REDIS_CLUSTER_NODES: every key goes to the primary that owns its slot, and one user's keys share a slot (a hash tag), so a multi-key command stays on one node.",
      "",
      "| design | path | req/s | p50 ms | server CPU µs/req (one Redis) | Redis commands/req | Redis CPU µs/req, all primaries | the busiest primary | errors |",
      "|---|---|---|---|---|---|---|---|---|",
      ...report.cluster.runs.map(
        (run) =>
          `| ${run.design} | ${run.kind} | ${run.req_s} | ${run.p50_ms} | ${run.cpu_us_per_req ?? "-"} (${single(run.design, run.kind)?.cpu_us_per_req ?? "-"}) | ${run.redis_commands_per_req} | ${run.redis_cpu_us_per_req} | ${run.busiest_node_cpu_us_per_req} | ${run.errors + run.non2xx ? `**${failures(run)}**` : 0} |`,
      ),
      "",
      ...report.cluster.runs
        .filter((run) => run.first_failure)
        .map(
          (run) =>
            `${run.design} ${run.kind} failed on the Cluster (${failures(run)}); one more request answered ${run.first_failure}. Left out of the capacity section.`,
        ),
      ...(report.cluster.failovers?.length
        ? [
            `A failover happened during these measurements (${report.cluster.failovers.join("; ")}): read the figures with that in mind.`,
          ]
        : []),
      "",
    );
  }
  for (const profile of report.profiles ?? []) {
    const commands = (per: Record<string, number> | null) =>
      per
        ? `${Math.round(Object.values(per).reduce((a, b) => a + b, 0) * 100) / 100} (${Object.entries(per)
            .map(([name, n]) => `${name} ${n}`)
            .join(", ")})`
        : "none (phase 1)";
    lines.push(
      `## Where ${profile.design}'s time goes (its read goal was missed)`,
      "",
      `Redis commands per read: ${commands(profile.redis_commands_per_read)}; per upload: ${commands(profile.redis_commands_per_write)}.`,
      "",
      "Server CPU profile under the read load (self time), by package: " +
        profile.top_packages.map((p) => `${p.name} ${p.percent}%`).join(", ") +
        ".",
      "",
      "Top functions: " + profile.top_functions.map((f) => `${f.name} ${f.percent}%`).join("; ") + ".",
      "",
    );
  }
  return lines.join("\n");
}

/** "3 errors, 120 non-2xx (503 ×120)". */
function failures(run: { errors: number; non2xx: number; statuses?: Record<string, number> }): string {
  const statuses = Object.entries(run.statuses ?? {}).map(([status, count]) => `${status} ×${count}`);
  return `${run.errors} errors, ${run.non2xx} non-2xx${statuses.length ? ` (${statuses.join(", ")})` : ""}`;
}

/** The runs whose requests failed: the capacity model leaves them out, and says so. */
export function leftOutOfCapacity(report: BenchReport): string[] {
  const failed = [
    ...report.designs
      .filter((d) => d.errors + d.non2xx > 0 && !d.design.includes(" "))
      .map((d) => `${d.design} ${d.kind} on one Redis (${failures(d)})`),
    ...(report.cluster?.runs ?? [])
      .filter((run) => run.errors + run.non2xx > 0)
      .map((run) => `${run.design} ${run.kind} on the Cluster (${failures(run)})`),
  ];
  return failed.length ? [`Left out, because their requests failed: ${failed.join("; ")}.`] : [];
}
