// How the benchmark loads a server: autocannon driven from a script, each request on behalf
// of the next of many logged-in users (never one shared user), each upload with its own
// Idempotency-Key. And the helpers around it: seeding users, logging them in, waiting until a
// server is idle, reading a process's memory (docs/how-the-lab-works.md, "The benchmark
// harness").

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import autocannon from "autocannon";
import { DataStore } from "../../phase1-mockup/src/domain/data-store";
import { FileService } from "../../phase1-mockup/src/domain/files";
import { UserService } from "../../phase1-mockup/src/domain/users";
import { Credentials, Design, fetchAnswer } from "../designs";
import { sleep } from "../processes/managed-process";

export const PASSWORD = "bench-password-1";
/** What a writer may hold in the bench (MAX_FILES_PER_USER's and MAX_BYTES_PER_USER's largest values): it uploads hundreds of files in a run, and the bench measures uploads, not 413s. */
export const BENCH_QUOTA = { MAX_FILES_PER_USER: "1000000", MAX_BYTES_PER_USER: String(2 ** 40) };
export const CONNECTIONS = 50;

/** What a part of the bench that starts its own Redis and servers is handed by the command. */
export interface BenchRun {
  /** The run's PostgreSQL, where phase 2's users and files are: its database's URL and its postmaster's pid. */
  database: { url: string; pid: number | undefined };
  /** Where its processes keep their files and logs. */
  runDir: string;
  /** The servers' SESSION_SECRET, which seeded users' file ids depend on. */
  secret: string;
  /** Where its progress lines go. */
  say: (line: string) => void;
}

export interface LoadResult {
  req_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  non2xx: number;
  /** The answers that were not 2xx, by status ("503": 120), so that a failed run says how it failed. */
  statuses?: Record<string, number>;
  /** Requests answered during the run. */
  requests: number;
  /** The server's CPU time (user + system) per request answered, in microseconds, where /proc tells it. */
  cpu_us_per_req?: number;
}

/**
 * Registers `count` users (named `${prefix}-<i>`) with one small file each, straight into the
 * store; without the file where `withFile` is false (the memory part only logs its users in).
 */
export async function seedUsers(
  store: DataStore,
  prefix: string,
  count: number,
  cost: number,
  idSecret: string,
  withFile = true,
): Promise<string[]> {
  const users = new UserService(store, cost);
  const files = new FileService(store, { maxFileBytes: 1048576, idSecret });
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(
      names.slice(i, i + 50).map(async (username) => {
        await users.register({ username, password: PASSWORD });
        if (!withFile) return;
        const userId = (await store.getUser(username))?.user_id ?? username; // files are kept under the user's id
        await files.upload(userId, { filename: "notes.txt", content: "x".repeat(200) }, "seed");
      }),
    );
  }
  return names;
}

/** Logs every user in (as the design wants) and returns the headers that prove who each one is. */
export async function logIn(
  design: Design,
  url: string,
  names: string[],
  concurrency = 50,
): Promise<Array<Record<string, string>>> {
  const result: Array<Record<string, string>> = new Array(names.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < names.length) {
        const index = next++;
        const credentials = new Credentials(design, names[index], PASSWORD);
        const login = credentials.loginRequest();
        const answer = login ? await fetchAnswer(url, login, 30_000) : undefined;
        if (answer && (answer.status < 200 || answer.status >= 300))
          throw new Error(
            `login of ${names[index]} on ${design} answered ${answer.status} ${String(answer.body.error)}`,
          );
        credentials.accept(answer);
        result[index] = credentials.headers();
      }
    }),
  );
  return result;
}

let uploads = 0;

/** One autocannon run: GET /api/files (read) or POST /api/upload (write), users in rotation. */
export async function load(
  url: string,
  kind: "read" | "write",
  credentials: Array<Record<string, string>>,
  seconds: number,
  connections = CONNECTIONS,
): Promise<LoadResult> {
  let next = 0;
  // autocannon stops at its next sample, one a second by default: a 0.3 s warm-up would last 1 s.
  const sampleMs = seconds < 1 ? 100 : 1000;
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    sampleInt: sampleMs,
    requests: [
      {
        method: kind === "read" ? "GET" : "POST",
        path: kind === "read" ? "/api/files" : "/api/upload",
        setupRequest: (request) => {
          const user = credentials.length ? credentials[next++ % credentials.length] : {};
          if (kind === "read") return { ...request, headers: { ...user } };
          uploads += 1;
          const key = `bench-${process.pid}-${uploads}`;
          return {
            ...request,
            headers: { ...user, "content-type": "application/json", "idempotency-key": key },
            body: JSON.stringify({ filename: `${key}.txt`, content: "a small benchmark file" }),
          };
        },
      },
    ],
  });
  const statuses = Object.fromEntries(
    Object.entries(result.statusCodeStats ?? {})
      .filter(([status]) => !status.startsWith("2"))
      .map(([status, stats]) => [status, stats.count ?? 0]),
  );
  return {
    req_s: Math.round(result.requests.average * (1000 / sampleMs)), // the average is per sample
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    ...(Object.keys(statuses).length ? { statuses } : {}),
    requests: result.requests.total,
  };
}

/**
 * As many reads at once as a load has connections, each answered: the server's PostgreSQL pool
 * has its connections open again before a measurement. A pool closes a connection idle for 10 s,
 * the interleaved rounds leave each server idle for longer, and starting PostgreSQL's backends
 * again (a fork and a fresh catalog cache each) is not what a request costs.
 */
export async function openConnections(url: string, credentials: Array<Record<string, string>>): Promise<void> {
  await Promise.all(
    Array.from(
      { length: CONNECTIONS },
      (_, i) =>
        fetch(`${url}/api/files`, {
          headers: credentials[i % Math.max(1, credentials.length)],
          signal: AbortSignal.timeout(5000),
        })
          .then((response) => response.arrayBuffer())
          .catch(() => undefined), // the load that follows counts failures: this only opens connections
    ),
  );
}

/** What a row of the report says of several rounds of one load. */
export type RoundsFigures = Pick<LoadResult, "req_s" | "p50_ms" | "p99_ms" | "errors" | "non2xx" | "statuses">;

/** Several rounds of one load as one row: the medians of req/s and latency, the failures summed. */
export function medianOfRounds(runs: LoadResult[]): RoundsFigures {
  const statuses = sumStatuses(runs);
  return {
    req_s: Math.round(median(runs.map((run) => run.req_s))),
    p50_ms: median(runs.map((run) => run.p50_ms)),
    p99_ms: median(runs.map((run) => run.p99_ms)),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
    ...(statuses ? { statuses } : {}),
  };
}

/** The non-2xx answers of several runs together, by status; undefined when there were none. */
export function sumStatuses(runs: Array<Pick<LoadResult, "statuses">>): Record<string, number> | undefined {
  const statuses: Record<string, number> = {};
  for (const run of runs)
    for (const [status, count] of Object.entries(run.statuses ?? {}))
      statuses[status] = (statuses[status] ?? 0) + count;
  return Object.keys(statuses).length ? statuses : undefined;
}

/** CPU seconds a process has used so far (Linux /proc; elsewhere undefined). */
export function cpuSeconds(pid: number): number | undefined {
  const file = `/proc/${pid}/stat`;
  if (!existsSync(file)) return undefined;
  const fields = readFileSync(file, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks
}

/**
 * Waits until a server uses under 5% of a core (leftover work from a warm-up, say); `cpu` reads
 * its CPU seconds (PostgreSQL's are spread over its processes: capacity.ts's postgresCpuSeconds).
 */
export async function waitUntilIdle(
  pid: number | undefined,
  timeoutMs = 10_000,
  cpu: (pid: number) => number | undefined = cpuSeconds,
): Promise<void> {
  if (!pid || cpu(pid) === undefined) return sleep(300);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const before = cpu(pid) ?? 0;
    await sleep(100);
    if ((cpu(pid) ?? 0) - before < 0.005) return; // under 5% of a core for 100 ms (the clock ticks every 10 ms)
  }
}

/** Resident memory of a process, in bytes. */
export function rssBytes(pid: number): number {
  const file = `/proc/${pid}/status`;
  if (existsSync(file)) return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(file, "utf8"))?.[1] ?? 0) * 1024;
  return Number(spawnSync("ps", ["-o", "rss=", "-p", String(pid)], { encoding: "utf8" }).stdout.trim()) * 1024;
}

/**
 * One load run that also reads the server's CPU time before and after: CPU per request is
 * steadier than req/s when something else shares the machine.
 */
export async function loadAndTime(pid: number | undefined, ...args: Parameters<typeof load>): Promise<LoadResult> {
  const before = pid ? cpuSeconds(pid) : undefined;
  const result = await load(...args);
  const after = pid ? cpuSeconds(pid) : undefined;
  if (before !== undefined && after !== undefined && result.requests > 0)
    result.cpu_us_per_req = Math.round(((after - before) * 1e6) / result.requests);
  return result;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
