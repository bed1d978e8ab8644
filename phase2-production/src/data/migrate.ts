// The database's schema, in versioned SQL files (migrations/), applied in order by node-pg-migrate
// and recorded in its table `pgmigrations`: `npm run db:migrate` with DATABASE_URL set, and the
// lab and the demos before their servers start. Running it twice changes nothing. A server
// refuses a database that has a migration this code does not know (a newer schema): it would
// read and write tables it does not understand.
//
// node-pg-migrate 7 is the last CommonJS line (8 and later are ES modules only, which the
// tests' CommonJS loader cannot require); its SQL migrations need nothing from its JavaScript API.

import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import type { ClientBase } from "pg";

/** The folder with package.json, whether this runs compiled (dist/) or under ts-jest. */
function repoRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

/** Where the SQL files are: in the source tree, which the compiled code reads too. */
export const MIGRATIONS_DIR = path.join(repoRoot(__dirname), "phase2-production", "src", "data", "migrations");
const MIGRATIONS_TABLE = "pgmigrations";

/** The migrations this code knows, by name (the file name without .sql), in order. */
export function knownMigrations(): string[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((name) => name.endsWith(".sql"))
    .map((name) => name.slice(0, -".sql".length))
    .sort();
}

/** Applies every migration not yet applied, in one transaction per migration; answers the names applied now. */
export async function migrate(databaseUrl: string): Promise<string[]> {
  // Loaded here, not at the top: a server only checks the schema, and node-pg-migrate would add
  // about 0.15 s of CPU to every server's start (measured), which the lab pays hundreds of times.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS, loaded on first use
  const { runner } = require("node-pg-migrate") as typeof import("node-pg-migrate");
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    migrationsTable: MIGRATIONS_TABLE,
    direction: "up",
    checkOrder: true,
    log: () => undefined, // the caller says what was applied, in one line
  });
  return applied.map((migration) => migration.name);
}

/**
 * Checks, at a server's start, that the database's schema is the one this code knows: every
 * migration this code has is applied, and none it does not know. Throws an Error saying which.
 */
export async function checkSchema(client: Pick<ClientBase, "query">): Promise<void> {
  const known = knownMigrations();
  const exists = await client.query<{ present: boolean }>(
    "SELECT to_regclass($1) IS NOT NULL AS present",
    [`public.${MIGRATIONS_TABLE}`],
  );
  const applied = exists.rows[0]?.present
    ? (await client.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY run_on, id`)).rows.map(
        (row) => row.name,
      )
    : [];
  const unknown = applied.filter((name) => !known.includes(name));
  if (unknown.length > 0)
    throw new Error(
      `the database's schema is newer than this code (it has migration ${unknown.join(", ")}, which this code does not know): run the code that made it, or use another database`,
    );
  const missing = known.filter((name) => !applied.includes(name));
  if (missing.length > 0)
    throw new Error(`the database's schema is not migrated (missing ${missing.join(", ")}): run npm run db:migrate`);
}

if (require.main === module) {
  const url = process.env.DATABASE_URL;
  if (!url || !/^postgres(ql)?:\/\//.test(url)) {
    console.error(
      `db:migrate: DATABASE_URL must be a URL like postgres://lab@127.0.0.1:5432/lab (got ${JSON.stringify(url ?? "")})`,
    );
    process.exit(1);
  }
  migrate(url).then(
    (applied) => {
      console.log(
        applied.length ? `db:migrate: applied ${applied.join(", ")}` : "db:migrate: the schema is up to date",
      );
    },
    (error: Error) => {
      console.error(`db:migrate: ${error.message}`);
      process.exit(1);
    },
  );
}
