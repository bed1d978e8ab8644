// `npm run db:start -- [--port P] [--fresh]`: a PostgreSQL for phase 2's users and files, in the
// foreground, for the worksheets' parts by hand: start it, point `npm run server:phase2` at the
// DATABASE_URL it prints, and kill it (`kill -9 <pid>`) or freeze it (`kill -STOP` on it and its children) while
// you watch. Its data stays in one folder between runs (data/postgres/), so that starting it
// again after a crash shows what the write-ahead log kept; `--fresh` starts from an empty,
// migrated database. Ctrl-C stops it (SIGINT, PostgreSQL's fast shutdown).

import { existsSync, rmSync } from "node:fs";
import path from "node:path";
import { parseOrExit, readArgs, readInteger, refuseNativeWindows, UsageError } from "../cli";
import { stopEverything } from "../processes/managed-process";
import { findPostgres, LAB_DATABASE, POSTGRES_MISSING_MESSAGE, startLabPostgres } from "../processes/postgres";
import { postgresDataHome } from "../processes/run-dir";

const USAGE = "usage: npm run db:start -- [--port P] [--fresh]";

async function main(): Promise<void> {
  const { port, fresh } = parseOrExit(USAGE, () => {
    const args = process.argv.slice(2);
    const fresh = args.includes("--fresh");
    const values = readArgs(
      args.filter((arg) => arg !== "--fresh"),
      ["port"],
    );
    return { port: readInteger("port", values.port, 5490, 1024, 65535), fresh };
  });
  refuseNativeWindows("db:start");
  if (!findPostgres()) throw new UsageError(POSTGRES_MISSING_MESSAGE);
  const dir = postgresDataHome();
  if (fresh && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  const again = existsSync(path.join(dir, "pgdata", "PG_VERSION"));
  const { server } = await startLabPostgres(dir, "postgres", port);
  const url = server.url(LAB_DATABASE);
  console.log(`db:start: PostgreSQL ${again ? "started again on the data it had" : "started, migrated"} in ${dir}`);
  console.log(`  DATABASE_URL=${url}`);
  console.log(
    `  pid ${server.pid}: kill -9 ${server.pid} crashes it; kill -STOP ${server.pid} $(pgrep -P ${server.pid}) freezes it, with the process of each connection (kill -CONT to wake)`,
  );
  console.log(`  the users:  psql ${url} -c 'SELECT username, created_at FROM users'`);
  console.log("Ctrl-C stops it.");
  const stop = (signal: string) => {
    console.log(`\n${signal}: stopping PostgreSQL`);
    void stopEverything().finally(() => process.exit(130));
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
  while (server.running) await new Promise((resolve) => setTimeout(resolve, 200));
  console.log(
    `db:start: PostgreSQL (pid ${server.pid}) has stopped; npm run db:start starts it again on the same data`,
  );
  await stopEverything();
}

main().catch((error) => {
  const message = (error as Error).message;
  const taken = message.includes("could not listen")
    ? ": another program holds that port (another npm run db:start?); --port P starts on another"
    : "";
  console.error(`db:start: ${message}${taken}`);
  void stopEverything().finally(() => process.exit(1));
});
