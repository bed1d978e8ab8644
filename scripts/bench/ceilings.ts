// The benchmark's ceilings (docs/how-the-lab-works.md, "The benchmark harness"): servers that
// do only what a design's read does underneath, with no authentication and no session, so that
// each design's figure can be read as a ratio of "the same work, minus the session layer". Run by
// bench.ts as `node dist/scripts/bench/ceilings.js <ceiling>`; it answers /ready like the lab's servers.

import http from "node:http";
import { AddressInfo } from "node:net";
import express from "express";
import { DataStore } from "../../phase1-mockup/src/domain/data-store";
import { FileDataStore } from "../../phase1-mockup/src/domain/file-data-store";
import { createPool, PostgresDataStore } from "../../phase2-production/src/data/postgres-data-store";

/**
 * The ceilings, each with PORT (and DATA_DIR or DATABASE_URL) set:
 *
 *   node:http         a small JSON body, no framework
 *   express           the same through Express
 *   express+data_dir  Express listing one user's files from DATA_DIR (phase 1's data path)
 *   express+postgres  Express listing the same files from PostgreSQL, with the pool and the
 *                     query that phase 2 uses (phase 2's data path)
 *
 * The user is named in an X-Bench-User header, and the benchmark rotates it over the same users
 * that the designs read as, so that a ceiling reads the same records from the same (more or less
 * cached) places: reading one user's files over and over would flatter it.
 */
export const CEILINGS = ["node:http", "express", "express+data_dir", "express+postgres"] as const;
export type Ceiling = (typeof CEILINGS)[number];

const SMALL_BODY = JSON.stringify({ files: [] });

function handler(kind: Ceiling): http.RequestListener {
  if (kind === "node:http") {
    return (req, res) => {
      res
        .writeHead(200, { "Content-Type": "application/json" })
        .end(req.url === "/ready" ? '{"status":"ready"}' : SMALL_BODY);
    };
  }
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  // No authentication: whoever the header names (a ceiling is not a server to copy). Files are
  // kept under the user's id, read once per user from its record (a design has it in its session).
  const ids = new Map<string, Promise<string>>();
  const idOf = (store: DataStore, name: string) => {
    if (!ids.has(name)) {
      const lookup = store.getUser(name).then((user) => user?.user_id ?? name);
      lookup.catch(() => ids.delete(name)); // a failed lookup is tried again next time
      ids.set(name, lookup);
    }
    return ids.get(name) as Promise<string>;
  };
  const user = (req: express.Request) => req.get("X-Bench-User") ?? "bench-0";
  if (kind === "express") {
    app.get("/ready", (_req, res) => void res.json({ status: "ready" }));
    app.get("/api/files", (_req, res) => void res.type("application/json").send(SMALL_BODY));
  } else if (kind === "express+data_dir") {
    const store = new FileDataStore(process.env.DATA_DIR ?? "data/bench");
    app.get("/ready", (_req, res) => void res.json({ status: "ready" }));
    app.get(
      "/api/files",
      async (req, res) => void res.json({ files: await store.listFiles(await idOf(store, user(req))) }),
    );
  } else {
    const store = new PostgresDataStore(createPool(process.env.DATABASE_URL ?? ""));
    app.get("/ready", async (_req, res) => {
      const reason = await store.notReadyReason();
      res.status(reason ? 503 : 200).json({ status: reason ?? "ready" });
    });
    app.get(
      "/api/files",
      async (req, res) => void res.json({ files: await store.listFiles(await idOf(store, user(req))) }),
    );
  }
  return app;
}

/**
 * Serves the bench server named by the command line's argument (`node ceilings.js express`), one
 * of `names`, on PORT (loopback) as a ServerInstance expects: says "listening" over IPC, and stops
 * on SIGTERM, SIGINT or a lost parent. The ceilings and the textbook peers share it.
 */
export function serveForBench<Name extends string>(
  program: { name: string; serves: string },
  names: readonly Name[],
  listenerFor: (name: Name) => http.RequestListener,
): void {
  const chosen = process.argv[2] as Name;
  if (!names.includes(chosen)) {
    console.error(`${program.name}: unknown ${program.serves} ${JSON.stringify(chosen)}; one of ${names.join(", ")}`);
    process.exit(1);
  }
  const server = http.createServer(listenerFor(chosen));
  server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
    process.send?.({ type: "listening", port: (server.address() as AddressInfo).port, pid: process.pid });
  });
  const stop = () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  if (process.connected) process.once("disconnect", stop);
}

if (require.main === module) serveForBench({ name: "ceilings", serves: "ceiling" }, CEILINGS, handler);
