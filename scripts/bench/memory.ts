// The benchmark's memory part: server RSS and V8 heap (and Redis's used_memory) as live
// sessions grow, for the designs that keep sessions in the process and for redis-session,
// whose server should stay flat while Redis grows. Run by bench.ts; explained in
// docs/how-the-lab-works.md ("The benchmark harness") and measured in docs/results.md.

import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import type Redis from "ioredis";
import { DataStore } from "../../phase1-mockup/src/domain/data-store";
import { FileDataStore } from "../../phase1-mockup/src/domain/file-data-store";
import { Design, isPhase1 } from "../designs";
import { sleep } from "../processes/managed-process";
import { serverEnvironment } from "../processes/server-env";
import { compiledScript, serverArguments, ServerInstance } from "../processes/server-instance";
import { logIn, rssBytes, seedUsers, waitUntilIdle } from "./load";

export interface MemoryOptions {
  /** Live sessions at each reading. */
  memorySteps: number[];
  designs: Design[];
  /** SESSION_SECRET, shared with the rest of the bench. */
  secret: string;
}

/** The V8 heap in use after a full garbage collection, from heap-probe.ts; null if it does not answer. */
async function heapUsedBytes(pid: number, file: string): Promise<number | null> {
  rmSync(file, { force: true });
  process.kill(pid, "SIGUSR2");
  for (let waited = 0; waited < 5000; waited += 50) {
    if (existsSync(file)) return (JSON.parse(readFileSync(file, "utf8")) as { heapUsed: number }).heapUsed;
    await sleep(50);
  }
  return null;
}

/**
 * Server RSS, its V8 heap (and Redis's used_memory) as live sessions grow: bytes per session.
 * Phase 2's users are registered in `database` (the run's PostgreSQL, at `databaseUrl`), so
 * that Redis holds only what the sessions add.
 */
export async function measureMemory(
  options: MemoryOptions,
  runDir: string,
  stores: { redisUrl: string; admin: Redis; databaseUrl: string; database: DataStore },
  say: (line: string) => void,
) {
  const { redisUrl, admin, databaseUrl } = stores;
  // PASSWORD_HASH_COST=4 here: this part measures sessions, not hashing. The first 1,000 logins
  // only warm the server up (code paths, heap), so that the figures are per additional session.
  const most = Math.max(...options.memorySteps) + 1000;
  // No file for them: this part only logs them in.
  const users = await seedUsers(
    new FileDataStore(path.join(runDir, "memory-data")),
    "mem",
    most,
    4,
    options.secret,
    false,
  );
  await seedUsers(stores.database, "mem", most, 4, options.secret, false);
  const results = [];
  for (const design of ["stateful", "memory-session", "cached-session", "redis-session"] as Design[]) {
    if (!options.designs.includes(design)) continue;
    const env = serverEnvironment({
      secret: options.secret,
      dataDir: path.join(runDir, "memory-data"),
      databaseUrl,
      redisUrl,
      keyPrefix: "mem:",
      passwordHashCost: 4,
    });
    const heapFile = path.join(runDir, `heap-${design}.json`);
    const instance = new ServerInstance({
      design,
      serverId: `memory-${design}`,
      env: { ...env, BENCH_HEAP_FILE: heapFile },
      dir: runDir,
      args: ["--expose-gc", "--require", compiledScript("bench", "heap-probe.js"), ...serverArguments(design)],
    });
    await instance.start();
    await logIn(design, instance.url, users.slice(most - 1000)); // the warm-up
    await waitUntilIdle(instance.pid);
    // Bytes per session as the slope from the step before (the warm-up, then each step): the
    // fixed costs of a first burst of logins (heap growth, code caches) stay out of the figure.
    // RSS as an operator sees it, then the heap after a full garbage collection: what the live
    // sessions really hold, without the logins' garbage that V8 collects at its own pace.
    let previousRss = rssBytes(instance.pid as number);
    let previousHeap = await heapUsedBytes(instance.pid as number, heapFile);
    let previousRedis = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1] ?? 0);
    let done = 0;
    for (const step of options.memorySteps) {
      await logIn(design, instance.url, users.slice(done, step));
      const added = step - done;
      done = step;
      await waitUntilIdle(instance.pid);
      const rss = rssBytes(instance.pid as number);
      const heap = await heapUsedBytes(instance.pid as number, heapFile);
      const redisMemory = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1] ?? 0);
      const entry = {
        design,
        sessions: step,
        server_rss_bytes: rss,
        server_heap_bytes: heap,
        server_bytes_per_session: Math.round((rss - previousRss) / added),
        server_heap_bytes_per_session:
          heap === null || previousHeap === null ? null : Math.round((heap - previousHeap) / added),
        redis_used_memory_bytes: isPhase1(design) ? null : redisMemory,
        redis_bytes_per_session: isPhase1(design) ? null : Math.round((redisMemory - previousRedis) / added),
      };
      previousRss = rss;
      previousHeap = heap;
      previousRedis = redisMemory;
      results.push(entry);
      say(
        `[memory] ${design} at ${step} sessions: server ${entry.server_bytes_per_session} B/session (V8 heap ${entry.server_heap_bytes_per_session ?? "?"} B)${entry.redis_bytes_per_session !== null ? `, Redis ${entry.redis_bytes_per_session} B/session` : ""}`,
      );
    }
    await instance.kill();
  }
  return results;
}
