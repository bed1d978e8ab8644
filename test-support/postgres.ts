// One real PostgreSQL server for a test file (like Redis in phase2-apps.ts's useStores()), and a
// fresh migrated database for each app or test that asks: the server starts from the lab's
// migrated seed (scripts/processes/postgres.ts), and CREATE DATABASE ... TEMPLATE copies the
// migrated template, much faster than a migration per test (docs/how-the-lab-works.md,
// "Processes and clean-up"). Everything is stopped in the file's afterAll.

import { stopEverything, throwAwayDir } from "../scripts/processes/managed-process";
import { cloneDatabase, findPostgres, PostgresServer, startLabPostgres } from "../scripts/processes/postgres";

/** True when PostgreSQL is installed here (npm run setup installs it; CI always has it). */
export const postgresInstalled = findPostgres() !== null;

export interface TestPostgres {
  server: () => PostgresServer;
  /** A new database with the schema applied; answers its URL. */
  freshDatabase: (name?: string) => Promise<string>;
}

let current: PostgresServer | undefined;
let made = 0;

/** Starts the file's PostgreSQL (in a beforeAll); usePostgres() and useStores() call it. */
export async function startTestPostgres(): Promise<PostgresServer> {
  current = (await startLabPostgres(throwAwayDir("lab-postgres-"))).server;
  return current;
}

/** The file's PostgreSQL server. */
export function testPostgres(): PostgresServer {
  if (!current) throw new Error("PostgreSQL is not started: use useStores() or usePostgres(), and ask inside a test");
  return current;
}

/** A new migrated database on the file's PostgreSQL; answers its URL. */
export async function freshDatabase(name = `t${process.pid}_${++made}`): Promise<string> {
  return cloneDatabase(testPostgres(), name);
}

/** The file's PostgreSQL alone (phase2-apps.ts's useStores() starts it beside Redis). */
export function usePostgres(): TestPostgres {
  beforeAll(async () => {
    if (!postgresInstalled) return; // the file's tests are skipped: they say so
    await startTestPostgres();
  }, 60_000);
  afterAll(async () => {
    await stopEverything();
  });
  return { server: testPostgres, freshDatabase };
}

/** One statement on the server's maintenance database (the lab's own helper, under a shorter name). */
export { adminStatement as admin } from "../scripts/processes/postgres";
