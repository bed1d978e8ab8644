// Builds phase-2 apps in the test process against a real Redis and a real PostgreSQL, each app
// under its own key prefix and with a database of its own, with the cheapest password hash and a
// high rate limit (these tests are not about hashing or limits, except where they say so).
// Plumbing, not a lesson: the tests that use it are cited in docs/concepts.md and
// docs/transition-to-phase2.md.

import { stopAllServers } from "./server-process";
import { stopEverything } from "../scripts/processes/managed-process";
import { RedisServer, startRedis } from "../scripts/processes/redis";
import { createApp, Phase2App, Phase2AppOptions } from "../phase2-production/src/app";
import { Phase2Design } from "../phase2-production/src/operations/config";
import { freshDatabase, startTestPostgres } from "./postgres";

export { freshDatabase };

export const TEST_SECRET = "test-secret-of-at-least-thirty-two-characters";
let prefixes = 0;
const opened: Phase2App[] = [];

/** An app on `redisUrl` and a fresh database of its own (or `overrides.databaseUrl`, to share one). */
export async function phase2App(
  design: Phase2Design,
  redisUrl: string,
  overrides: Partial<Phase2AppOptions> = {},
): Promise<Phase2App & { keyPrefix: string; databaseUrl: string }> {
  prefixes += 1;
  const keyPrefix = `t${process.pid}-${prefixes}:`;
  const databaseUrl = overrides.databaseUrl ?? (await freshDatabase());
  const app = createApp({
    design,
    databaseUrl,
    serverId: `${design}-test`,
    redis: { url: redisUrl, masterName: "lab", failoverDetector: false, waitReplicas: 0, waitMs: 100 },
    keyPrefix,
    sessionSecret: TEST_SECRET,
    sessionTtlSeconds: 1800,
    maxFileBytes: 1048576,
    passwordHashCost: 4,
    rateLimitPerMinute: 100000,
    cookieSecure: false,
    logLevel: "silent",
    ...overrides,
  });
  opened.push(app);
  return { ...app, keyPrefix, databaseUrl };
}

/** Resolves once the app's Redis client is connected, so a test never races the first connect. */
export async function connected<T extends Phase2App>(built: T | Promise<T>): Promise<T> {
  const app = await built;
  if (app.client.status !== "ready") await new Promise((resolve) => app.client.once("ready", resolve));
  return app;
}

export async function closeAllApps(): Promise<void> {
  await Promise.all(opened.splice(0).map((app) => app.close()));
}

/** Where the cookie is read from a Set-Cookie header: test-support/http.ts, for apps and processes alike. */
export { sessionCookie } from "./http";

/**
 * One real redis-server and one real PostgreSQL for the whole test file, started before its
 * tests; afterwards every app, server process, Redis and PostgreSQL the file started is
 * stopped. Returns a getter for the Redis; freshDatabase() gives a database on the PostgreSQL.
 */
export function useStores(): () => RedisServer {
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    [redis] = await Promise.all([startRedis(), startTestPostgres()]);
  }, 60_000);
  afterAll(async () => {
    await closeAllApps();
    await stopAllServers();
    await stopEverything();
  });
  return () => {
    if (!redis) throw new Error("Redis is not started yet: call the getter inside a test");
    return redis;
  };
}
