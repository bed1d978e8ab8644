// One real PostgreSQL server for a test file (like phase2-apps.ts's useRedis()), and a fresh
// migrated database for each test that asks: CREATE DATABASE ... TEMPLATE copies a database
// migrated once, much faster than a migration per test (docs/how-the-lab-works.md, "Processes
// and clean-up"). Everything is stopped in the file's afterAll.

import { Client } from "pg";
import { migrate } from "../phase2-production/src/data/migrate";
import { stopEverything } from "../scripts/processes/managed-process";
import { findPostgres, PostgresServer, startPostgres } from "../scripts/processes/postgres";

/** True when PostgreSQL is installed here (npm run setup installs it; CI always has it). */
export const postgresInstalled = findPostgres() !== null;

const TEMPLATE = "lab_template";

export interface TestPostgres {
  server: () => PostgresServer;
  /** A new database with the schema applied; answers its URL. */
  freshDatabase: (name?: string) => Promise<string>;
}

export function usePostgres(): TestPostgres {
  let server: PostgresServer | undefined;
  let made = 0;
  beforeAll(async () => {
    if (!postgresInstalled) return; // the file's tests are skipped: they say so
    server = await startPostgres();
    await admin(server, `CREATE DATABASE ${TEMPLATE}`);
    await migrate(server.url(TEMPLATE));
  }, 60_000);
  afterAll(async () => {
    await stopEverything();
  });
  const get = () => {
    if (!server) throw new Error("PostgreSQL is not started yet: call the getter inside a test");
    return server;
  };
  return {
    server: get,
    freshDatabase: async (name = `t${process.pid}_${++made}`) => {
      await admin(get(), `CREATE DATABASE ${name} TEMPLATE ${TEMPLATE}`);
      return get().url(name);
    },
  };
}

/** One statement on the server's maintenance database. */
export async function admin(server: PostgresServer, sql: string): Promise<void> {
  const client = new Client({ connectionString: server.url("postgres") });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
