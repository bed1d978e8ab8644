// The price of safe replication (docs/how-the-lab-works.md, "The benchmark harness"):
// redis-session's write path on replicated Redis (a primary, two replicas, three Sentinels),
// once as it comes and once with REDIS_WAIT_REPLICAS=1, in the same rounds, as a ratio. WAIT
// holds every acknowledged write until a replica has it: what does that cost?

import path from "node:path";
import { Parts } from "../processes/managed-process";
import { startReplicatedRedis } from "../processes/replicated-redis";
import { serverEnvironment } from "../processes/server-env";
import { ServerInstance } from "../processes/server-instance";
import { BENCH_QUOTA, BenchRun, load, LoadResult, logIn, medianOfRounds, waitUntilIdle } from "./load";

export interface ReplicationFigures {
  design: "redis-session";
  kind: "write";
  without_wait: { req_s: number; p50_ms: number; p99_ms: number };
  with_wait: { req_s: number; p50_ms: number; p99_ms: number };
  /** with WAIT / without, on req/s: below 1 is the price. */
  ratio: number | null;
  errors: number;
}

/** The medians only: the errors of both servers are counted together below. */
const figures = (runs: LoadResult[]) => {
  const { req_s, p50_ms, p99_ms } = medianOfRounds(runs);
  return { req_s, p50_ms, p99_ms };
};

export async function measureReplication(
  options: { duration: number; rounds: number; users: number },
  { runDir, secret, say, database }: BenchRun,
  seededWriters: string[],
): Promise<ReplicationFigures> {
  const parts = new Parts();
  try {
    const replicated = parts.add(await startReplicatedRedis({ dir: path.join(runDir, "replicated") }));
    const primary = await replicated.agreedPrimary();
    if (!primary) throw new Error("the Sentinels do not agree on a primary");
    // The writers and their files are in PostgreSQL: only the sessions are on the replicated Redis.
    const writers = seededWriters.slice(0, Math.min(options.users, 200));
    const base = {
      ...serverEnvironment({
        secret,
        dataDir: path.join(runDir, "data"),
        databaseUrl: database.url,
        sentinels: replicated.sentinelList,
        logLevel: "info",
      }),
      ...BENCH_QUOTA,
    };
    const servers = {
      without_wait: parts.add(
        new ServerInstance({
          design: "redis-session",
          serverId: "replicated-no-wait",
          env: base,
          dir: runDir,
          graceful: true,
        }),
      ),
      with_wait: parts.add(
        new ServerInstance({
          design: "redis-session",
          serverId: "replicated-wait-1",
          env: { ...base, REDIS_WAIT_REPLICAS: "1", REDIS_WAIT_MS: "100" },
          dir: runDir,
          graceful: true,
        }),
      ),
    };
    await Promise.all(Object.values(servers).map((server) => server.start()));
    const credentials = {
      without_wait: await logIn("redis-session", servers.without_wait.url, writers),
      with_wait: await logIn("redis-session", servers.with_wait.url, writers),
    };
    const runs: Record<keyof typeof servers, LoadResult[]> = { without_wait: [], with_wait: [] };
    for (const name of ["without_wait", "with_wait"] as const)
      await load(servers[name].url, "write", credentials[name], Math.min(1, options.duration));
    for (let round = 1; round <= options.rounds; round += 1) {
      for (const name of ["without_wait", "with_wait"] as const) {
        await waitUntilIdle(servers[name].pid);
        const result = await load(servers[name].url, "write", credentials[name], options.duration);
        runs[name].push(result);
        say(
          `[replication ${round}/${options.rounds}] redis-session write ${name === "with_wait" ? "with WAIT 1" : "without WAIT"}: ${result.req_s} req/s, p50 ${result.p50_ms} ms${result.errors || result.non2xx ? `, ${result.errors} errors, ${result.non2xx} non-2xx` : ""}`,
        );
      }
    }
    const without = figures(runs.without_wait);
    const withWait = figures(runs.with_wait);
    const errors = [...runs.without_wait, ...runs.with_wait].reduce((sum, run) => sum + run.errors + run.non2xx, 0);
    return {
      design: "redis-session",
      kind: "write",
      without_wait: without,
      with_wait: withWait,
      ratio: without.req_s > 0 && errors === 0 ? Math.round((withWait.req_s / without.req_s) * 1000) / 1000 : null,
      errors,
    };
  } finally {
    await parts.stop();
  }
}
