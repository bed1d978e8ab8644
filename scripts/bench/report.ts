// The benchmark's report: the goals of the benchmark issue read off one run's figures, and
// reports/bench.md, ratios first. Run by bench.ts; explained in docs/how-the-lab-works.md
// ("The benchmark harness"); the figures of record are in docs/results.md.

import { CONNECTIONS } from "./load";
import { Profile } from "./profile";
import type { ReplicationFigures } from "./replication";

export interface Goal {
  figure: string;
  goal: string;
  measured: string;
  met: boolean | null; // null: not measured in this run
}

/** The goals of the benchmark issue, each read off this run's figures. */
export function evaluateGoals(report: BenchReport): Goal[] {
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
  // The last step (5,000 to 20,000 sessions in a full run): the earlier ones also carry V8's
  // first heap growth, paid once. RSS can even fall when V8 gives memory back: then it says nothing.
  const stateful = largest("stateful");
  const rss = stateful?.server_bytes_per_session;
  goals.push({
    figure: "stateful server RSS per session",
    goal: "<= 1024 B",
    measured: !stateful ? "not measured" : `${rss} B at ${stateful.sessions} sessions${rss !== undefined && rss <= 0 ? " (RSS fell: V8 gave memory back)" : ""} (V8 heap: ${stateful.server_heap_bytes_per_session ?? "?"} B)`,
    met: rss === undefined || rss <= 0 ? null : rss <= 1024,
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

export type BenchReport = {
  date: string;
  machine: { cores: number; cpu: string };
  node: string;
  redis: string | null;
  options: { duration_s: number; rounds: number; users: number };
  wall_s: number;
  ceilings: Array<{ name: string; req_s: number; p50_ms: number; p99_ms: number; errors: number; cpu_us_per_req: number | null; spread: number }>;
  designs: Array<{ design: string; kind: string; ratio_to_ceiling: number | null; ceiling: string; ratio_to_express: number | null; req_s: number; p50_ms: number; p99_ms: number; errors: number; non2xx: number; cpu_us_per_req: number | null; spread: number }>;
  memory: Array<{ design: string; sessions: number; server_rss_bytes: number; server_heap_bytes: number | null; server_bytes_per_session: number; server_heap_bytes_per_session: number | null; redis_bytes_per_session: number | null }>;
  balancer: Array<{ name: string; req_s: number; p50_ms: number; ratio_to_direct: number | null; p50_added_ms: number }>;
  store: { get_req_s?: number | null; set_req_s?: number | null; note?: string };
  replication?: ReplicationFigures | null;
  goals?: Goal[];
  profiles?: Profile[];
};

export function benchMarkdown(report: BenchReport): string {
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
    lines.push(
      "",
      "## Memory as sessions grow",
      "",
      "Bytes per session are the growth from the step before, divided by the sessions added: of the server's RSS, of its V8 heap in use after a full garbage collection (what the live sessions hold), and of Redis's used_memory. RSS also carries the logins' garbage and V8's own heap growth, which comes in steps: read it over many sessions.",
      "",
      "| design | sessions | server RSS bytes/session | server V8 heap bytes/session | Redis bytes/session |",
      "|---|---|---|---|---|",
    );
    lines.push(...report.memory.map((m) => `| ${m.design} | ${m.sessions} | ${m.server_bytes_per_session} | ${m.server_heap_bytes_per_session ?? "-"} | ${m.redis_bytes_per_session ?? "-"} |`));
  }
  if (report.balancer.length) {
    lines.push("", "## The balancer's cost (redis-session read, 3 instances)", "", "| through | req/s | vs direct | p50 ms | p50 added ms |", "|---|---|---|---|---|");
    lines.push(...report.balancer.map((b) => `| ${b.name} | ${b.req_s} | ${b.ratio_to_direct} | ${b.p50_ms} | ${b.p50_added_ms} |`));
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
      r.ratio === null ? `No ratio: ${r.errors} errors or non-2xx answers.` : `With WAIT / without: ${r.ratio} of the requests per second.`,
    );
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
