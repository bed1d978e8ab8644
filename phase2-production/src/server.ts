// Starts one phase-2 server: `npm run server:phase2 -- --design redis-session` (or
// memory-session, cached-session, jwt, atomic-session), its users and files in the PostgreSQL at
// DATABASE_URL, its sessions in the Redis at REDIS_URL (or REDIS_SENTINELS, REDIS_CLUSTER_NODES).
// It listens even while either is down, reports not ready on /ready, and becomes ready by itself
// when they appear (docs/transition-to-phase2.md, "What phase 2 adds for operations"). A
// database whose schema this code does not know (not migrated, or migrated by newer code) stops
// the start with one line.

import { Client } from "pg";
import { loadConfigOrExit, serve } from "../../phase1-mockup/src/http/serve";
import { createApp } from "./app";
import { loadPhase2Config, readDesignArgument } from "./operations/config";
import { checkSchema } from "./data/migrate";
import { DATABASE_TIMEOUT_MS } from "./data/postgres-data-store";

/** Refuses a schema this code does not know; a database that does not answer is not refused (it may come). */
async function checkDatabase(url: string): Promise<void> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: DATABASE_TIMEOUT_MS });
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (error) {
    console.warn(`phase2: PostgreSQL does not answer yet (${(error as Error).message}); /ready says so until it does`);
    return;
  }
  try {
    await checkSchema(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

if (require.main === module) {
  const design = loadConfigOrExit("phase2", () => readDesignArgument(process.argv.slice(2)));
  serve({
    design,
    loadConfig: (env) => loadPhase2Config(env, design),
    createApp: async (config, lifecycle) => {
      await checkDatabase(config.databaseUrl);
      const { app, close } = createApp({
        ...config,
        quota: { maxFiles: config.maxFilesPerUser, maxBytes: config.maxBytesPerUser },
        lifecycle,
      });
      return { app, close };
    },
  });
}
