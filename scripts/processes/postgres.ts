// Real PostgreSQL servers for the tests and the lab, like redis.ts's Redis: each on a free
// loopback port with a data directory of its own (initdb'd on first start), never the default
// port 5432 and never a shared instance (docs/how-the-lab-works.md, "Processes and clean-up").
// PostgreSQL refuses to run as root: when the lab runs as root (CI), the server and initdb run
// as the unprivileged `postgres` user that Debian's package makes, owning the data directory.
// The server forks a process per connection, each in a session of its own: every signal (a
// freeze, a kill) goes to the server and to each of them.

import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import { knownMigrations, migrate, MIGRATIONS_DIR } from "../../phase2-production/src/data/migrate";
import { Command, ManagedProcess, throwAwayDir } from "./managed-process";

/**
 * A short command (cp, initdb, test) run without blocking: spawnSync would hold the lab's event
 * loop, and with it every other cell's users, while the copy or initdb runs.
 */
function run(
  file: string,
  args: string[],
  options: { cwd?: string; uid?: number; gid?: number } = {},
): Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      uid: options.uid,
      gid: options.gid,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", (error) => resolve({ status: null, signal: null, stdout, stderr: error.message }));
    child.on("close", (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/** The role every lab database belongs to: trust authentication on loopback, no password to leak. */
export const POSTGRES_USER = "lab";

export const POSTGRES_MISSING_MESSAGE =
  "PostgreSQL not found: install it (npm run setup, or apt install postgresql, or brew install postgresql@16), or set POSTGRES_BIN_DIR to the folder with postgres and initdb";

let cachedBinDir: string | null | undefined;

/** The folder holding `postgres` and `initdb`, or null when PostgreSQL is not installed. */
export function findPostgres(): string | null {
  if (cachedBinDir !== undefined) return cachedBinDir;
  const has = (dir: string) => existsSync(path.join(dir, "postgres")) && existsSync(path.join(dir, "initdb"));
  // Debian keeps the server's programs off PATH, one folder per major version: the newest first.
  const debian = existsSync("/usr/lib/postgresql")
    ? readdirSync("/usr/lib/postgresql")
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
        .map((version) => `/usr/lib/postgresql/${version}/bin`)
    : [];
  const fromPgConfig = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" }).stdout?.trim();
  const candidates = process.env.POSTGRES_BIN_DIR
    ? [process.env.POSTGRES_BIN_DIR]
    : [
        ...debian,
        ...(fromPgConfig ? [fromPgConfig] : []),
        "/opt/homebrew/opt/postgresql@16/bin",
        "/usr/local/opt/postgresql@16/bin",
        "/usr/local/bin",
        "/usr/bin",
      ];
  cachedBinDir = candidates.find(has) ?? null;
  return cachedBinDir;
}

/** The installed server's version ("15.14"), or null when there is none. */
export function postgresVersion(): string | null {
  const dir = findPostgres();
  if (!dir) return null;
  const output = spawnSync(path.join(dir, "postgres"), ["--version"], { encoding: "utf8" }).stdout ?? "";
  return /(\d+(?:\.\d+)+)/.exec(output)?.[1] ?? null;
}

let owner: { uid: number; gid: number } | undefined | null = null; // null: not asked yet

/** Who runs the server: ourselves, or the `postgres` user when we are root (asked once: `id` blocks the event loop). */
function serverOwner(): { uid: number; gid: number } | undefined {
  if (owner === null) owner = askServerOwner();
  return owner;
}

function askServerOwner(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return undefined;
  const uid = Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim());
  const gid = Number(spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout.trim());
  if (!Number.isInteger(uid) || uid <= 0)
    throw new Error(
      "running as root, PostgreSQL needs an unprivileged user named postgres (apt install postgresql makes it)",
    );
  return { uid, gid };
}

/** True when the server on `port` accepts a connection and answers a query (given `dataDir`: and serves that folder). */
export async function answersQuery(port: number, timeoutMs = 1000, dataDir?: string): Promise<boolean> {
  const client = new Client({
    host: "127.0.0.1",
    port,
    user: POSTGRES_USER,
    database: "postgres",
    connectionTimeoutMillis: timeoutMs,
  });
  client.on("error", () => undefined); // a server going away mid-probe is an answer, not a crash
  try {
    await client.connect();
    if (!dataDir) {
      await client.query("SELECT 1");
      return true;
    }
    // Ours, not another PostgreSQL that already held the port (ours then fails to bind and
    // exits, but the other one answered first): a start must never hand out someone else's.
    const { rows } = await client.query<{ data_directory: string }>("SHOW data_directory");
    return path.resolve(rows[0].data_directory) === path.resolve(dataDir);
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface PostgresOptions {
  /** Its folder (data, log, pid file); by default a throw-away one that stopEverything() removes. */
  dir?: string;
  /** The name of its log and pid files. */
  name?: string;
}

/**
 * One PostgreSQL server. start() runs initdb the first time; stop() is a fast shutdown (SIGINT:
 * open transactions are rolled back, committed ones stay), kill() SIGKILLs it and its children (what
 * a crash does: the write-ahead log brings back every committed transaction at the next start).
 */
export class PostgresServer extends ManagedProcess {
  private readonly owner = serverOwner();
  readonly dataDir: string;

  /** `seed`: a stopped server's data folder to copy on first start instead of running initdb. */
  constructor(
    dir: string,
    name = "postgres",
    private readonly seed?: string,
  ) {
    super(name, dir);
    this.dataDir = path.join(dir, "pgdata");
  }

  /** A URL for one of its databases. */
  url(database = "postgres"): string {
    return `postgres://${POSTGRES_USER}@127.0.0.1:${this.port}/${database}`;
  }

  override async start(): Promise<void> {
    if (!existsSync(path.join(this.dataDir, "PG_VERSION"))) {
      if (this.seed) await this.copySeed(this.seed);
      else await this.initialise();
    }
    await super.start();
  }

  /** SIGINT, PostgreSQL's fast shutdown; SIGTERM would wait for every client to disconnect. */
  override stop(): Promise<void> {
    return this.signal("SIGINT");
  }

  /** As root: the `postgres` user must be able to enter our folder, or PostgreSQL fails later with a less clear message. */
  private async checkReachable(): Promise<void> {
    if (!this.owner) return;
    chmodSync(this.dir, 0o711);
    if ((await run("test", ["-x", this.dir], this.owner)).status !== 0)
      throw new Error(
        `PostgreSQL runs as the postgres user here, which cannot enter ${this.dir}: use a folder every user can pass through (such as one under /tmp)`,
      );
  }

  private async copySeed(seed: string): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    await this.checkReachable();
    // cp -a keeps the owner (the postgres user) and the 0700 that the server insists on.
    const result = await run("cp", ["-a", seed, this.dataDir]);
    if (result.status !== 0) throw new Error(`copying PostgreSQL's seed failed: ${result.stderr.trim()}`);
  }

  private async initialise(): Promise<void> {
    const bin = findPostgres();
    if (!bin) throw new Error(POSTGRES_MISSING_MESSAGE);
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    await this.checkReachable(); // the server's user must reach its folder (ours may be 0700)...
    if (this.owner) chownSync(this.dataDir, this.owner.uid, this.owner.gid); // ...and own its data
    const result = await run(
      path.join(bin, "initdb"),
      ["-D", this.dataDir, "-U", POSTGRES_USER, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"],
      // Its own folder as the working directory: ours may be one the postgres user cannot enter.
      { cwd: this.dataDir, ...this.owner },
    );
    if (result.status !== 0)
      throw new Error(`initdb failed (${result.status ?? result.signal}): ${(result.stderr || result.stdout).trim()}`);
  }

  protected command(port: number): Command {
    const bin = findPostgres();
    if (!bin) throw new Error(POSTGRES_MISSING_MESSAGE);
    const settings = {
      listen_addresses: "127.0.0.1",
      port: String(port),
      // No Unix socket: everything connects over TCP, and a lab cell's folder makes a socket path
      // longer than the 107 bytes PostgreSQL allows (it then refuses to start).
      unix_socket_directories: "",
      max_connections: "200", // three instances' pools and the lab's own checks, with room
      shared_buffers: "32MB",
      logging_collector: "off",
      log_min_messages: "warning",
      // The lab's faults kill processes, never the machine: a commit's write-ahead log is in the
      // kernel's page cache once PostgreSQL acknowledges it, so a SIGKILL loses nothing without
      // fsync (a power cut would). Off, it spares every commit a wait on the disk.
      fsync: "off",
    };
    const args = ["-D", this.dataDir, ...Object.entries(settings).flatMap(([key, value]) => ["-c", `${key}=${value}`])];
    return { file: path.join(bin, "postgres"), args, ...this.owner, withChildren: true };
  }

  protected ready(port: number): Promise<boolean> {
    return answersQuery(port, 500, this.dataDir);
  }

  protected portTaken(output: string): boolean {
    return /could not bind|address already in use/i.test(output);
  }
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const postgres = new PostgresServer(options.dir ?? throwAwayDir("lab-postgres-"), options.name);
  await postgres.start();
  return postgres;
}

// The lab's databases. initdb (0.8 s on 2 cores) and the migrations (0.3 s) run once, into a
// stopped "seed" folder: once per run for the lab (in its run folder), once per machine for the
// tests, the demos and db:start (in the temporary folder, kept between runs); every server after
// that starts from a copy of it (0.06 s) with
// two migrated databases already there: `lab`, which a server of a stack's own serves as it is,
// and `lab_template`, from which a server the lab shares makes one database per cell by
// CREATE DATABASE ... TEMPLATE (0.1 to 0.4 s), so that no cell sees another's users or files.

export const TEMPLATE_DATABASE = "lab_template";
export const LAB_DATABASE = "lab";

/** One statement on the server's maintenance database. */
export async function adminStatement(server: PostgresServer, sql: string): Promise<void> {
  const client = new Client({ connectionString: server.url("postgres") });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

let seeding: Promise<string> | undefined;
let seedParent: string | undefined;

/** Makes the seed in `dir` (the lab's run folder, which the next run removes if this one is killed), not in a throw-away folder. */
export function keepPostgresSeedIn(dir: string): void {
  seedParent = dir;
}

/** The seed's data folder, made the first time it is asked for (again after stopEverything() removed it). */
async function seedDataDir(): Promise<string> {
  const made = seeding ? await seeding.catch(() => undefined) : undefined;
  if (made && existsSync(made)) return made;
  seeding = makeSeed();
  return seeding;
}

async function makeSeed(): Promise<string> {
  if (seedParent) return makeSeedIn(path.join(seedParent, "postgres-seed"));
  // Everyone else (the tests, the demos, the cluster, db:start) shares a seed between runs, one
  // per PostgreSQL version, schema and user: made once in a folder of its own, then renamed into
  // place, so that two processes making it at once never see half of one.
  const cached = seedCacheDir();
  if (existsSync(path.join(cached, "ready"))) return path.join(cached, "pgdata");
  const parent = path.dirname(cached);
  mkdirSync(parent, { recursive: true });
  chmodSync(parent, 0o711);
  forgetAbandonedSeeds(parent);
  const making = mkdtempSync(path.join(parent, "making-"));
  try {
    await makeSeedIn(making);
    writeFileSync(path.join(making, "ready"), "");
    renameSync(making, cached);
  } catch (error) {
    rmSync(making, { recursive: true, force: true });
    if (!existsSync(path.join(cached, "ready"))) throw error; // not another process's seed: a failure
  }
  return path.join(cached, "pgdata");
}

/** The shared seed's folder: the system's temporary folder, named by what makes two seeds differ. */
function seedCacheDir(): string {
  const schema = createHash("sha256");
  for (const name of knownMigrations())
    schema.update(name).update(readFileSync(path.join(MIGRATIONS_DIR, `${name}.sql`)));
  const uid = typeof process.getuid === "function" ? process.getuid() : 0;
  const id = `${postgresVersion() ?? "unknown"}-${schema.digest("hex").slice(0, 12)}-${uid}`;
  return path.join(os.tmpdir(), "lab-postgres-seeds", id);
}

/** Folders of seeds whose maker died before it finished (older than ten minutes). */
function forgetAbandonedSeeds(parent: string): void {
  for (const name of readdirSync(parent).filter((entry) => entry.startsWith("making-"))) {
    const dir = path.join(parent, name);
    if (Date.now() - statSync(dir).mtimeMs > 600_000) rmSync(dir, { recursive: true, force: true });
  }
}

async function makeSeedIn(dir: string): Promise<string> {
  const server = new PostgresServer(dir, "postgres-seed");
  await server.start();
  try {
    await adminStatement(server, `CREATE DATABASE ${TEMPLATE_DATABASE}`);
    await migrate(server.url(TEMPLATE_DATABASE));
    await adminStatement(server, `CREATE DATABASE ${LAB_DATABASE} TEMPLATE ${TEMPLATE_DATABASE}`);
  } finally {
    await server.stop(); // a clean shutdown: the folder can be copied as it is
  }
  return server.dataDir;
}

/** A PostgreSQL in `dir`, started from a copy of the seed the first time (`lab` and `lab_template` migrated in it), and what it took, in ms. */
export async function startLabPostgres(
  dir: string,
  name = "postgres",
  port?: number,
): Promise<{ server: PostgresServer; start_ms: number }> {
  const t0 = performance.now();
  const server = new PostgresServer(dir, name, await seedDataDir());
  if (port) server.port = port; // this port or none; by default a free one
  await server.start();
  return { server, start_ms: Math.round(performance.now() - t0) };
}

/** A fresh migrated database `name` copied from the template; answers its URL. */
export async function cloneDatabase(server: PostgresServer, name: string): Promise<string> {
  await adminStatement(server, `CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DATABASE}`);
  return server.url(name);
}
