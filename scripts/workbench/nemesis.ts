// The nemesis: every fault of the lab, the demos and the live view, done to real processes with
// real signals (docs/how-the-lab-works.md, "The scenarios"). As Maelstrom's nemesis composes
// fault packages, each fault here is one named function that returns what it did as data, a
// `Fault`: its kind, the process it struck, when it began and healed, and which state classes
// it kept and lost. The checker, the reports and the live view's narrator read those fields,
// never a sentence; `faultSentence` makes the sentence from them.

import { rmSync } from "node:fs";
import path from "node:path";
import { Design, StateClass, stateClasses, stateHome } from "../designs";
import { isReady, sleep } from "../processes/managed-process";
import { PostgresServer } from "../processes/postgres";
import { RedisServer } from "../processes/redis";
import { ReplicatedRedis } from "../processes/replicated-redis";
import { ServerInstance } from "../processes/server-instance";
import { formatMs } from "./history";

export type FaultKind =
  | "restart"
  | "crash"
  | "kill-busiest"
  | "rolling"
  | "store-restart"
  | "store-outage"
  | "kill-primary"
  | "freeze-primary"
  | "db-restart"
  | "db-outage"
  | "stop"
  | "start"
  | "burst";

/** What a fault struck: an instance, every instance in turn, Redis, the Redis primary, or a user (the burst). */
export interface FaultTarget {
  name: string;
  role: "instance" | "instances" | "redis" | "redis-primary" | "database" | "user";
  port: number | null;
  pid: number | null;
}

export interface Fault {
  kind: FaultKind;
  target: FaultTarget;
  /** ms on the run's clock; ended_ms is null while the fault is still in effect (the live view's stop, say). */
  began_ms: number;
  ended_ms: number | null;
  /** The state classes the fault left in place, and those it took (for the freeze: what the frozen primary acknowledged). */
  keeps: StateClass[];
  loses: StateClass[];
  /** Replicated Redis: the replica the Sentinels promoted in the primary's place. */
  promoted?: { name: string; port: number };
  /** How long the target stayed down or frozen on purpose (store-outage, freeze-primary), in ms. */
  held_ms?: number;
  /** kill-busiest: how many users the killed instance had served last. */
  users_held?: number;
  /** Whether the struck process runs again when the fault ends (false: it stays down). */
  restarted: boolean;
}

/** What every fault needs besides its target: the design (what state lives where) and the run's clock. */
export interface FaultContext {
  design: Design;
  clock: () => number;
  /** Called once the fault has struck, before it heals: the live view narrates it at once. */
  onStrike?: (fault: Fault) => void;
}

/** How long db-outage keeps PostgreSQL frozen, in ms. */
export const DB_OUTAGE_MS = 3000;

/** How long the store-outage keeps Redis down, and how long the freeze holds the primary, in ms. */
export const STORE_OUTAGE_MS = 3000;
export const FREEZE_MS = 5000;

/** Which state classes a fault that empties `place` loses, and which it keeps, for this design. */
function split(design: Design, lost: (home: ReturnType<typeof stateHome>) => boolean): Pick<Fault, "keeps" | "loses"> {
  const classes = stateClasses(design);
  return {
    keeps: classes.filter((each) => !lost(stateHome(design, each))),
    loses: classes.filter((each) => lost(stateHome(design, each))),
  };
}

const losesInstanceMemory = (design: Design) => split(design, (home) => home === "instance");
const losesRedis = (design: Design) => split(design, (home) => home === "redis");
const losesNothing = (design: Design) => split(design, () => false);

function instanceTarget(instance: ServerInstance): FaultTarget {
  return { name: instance.serverId, role: "instance", port: instance.port, pid: instance.pid ?? null };
}

/** Begins a fault done to one instance: whatever lives in its memory goes with it. */
function strikeInstance(
  kind: "restart" | "crash" | "stop",
  instance: ServerInstance,
  context: FaultContext,
  restarted: boolean,
): Fault {
  return strike(context, { kind, target: instanceTarget(instance), restarted, ...losesInstanceMemory(context.design) });
}

function redisTarget(redis: RedisServer, role: "redis" | "redis-primary"): FaultTarget {
  return { name: redis.name, role, port: redis.port, pid: redis.pid ?? null };
}

/** Begins a fault now: its record, handed to onStrike, then completed by the caller when it heals. */
function strike(context: FaultContext, fault: Omit<Fault, "began_ms" | "ended_ms">): Fault {
  const struck: Fault = { ...fault, began_ms: context.clock(), ended_ms: null };
  context.onStrike?.(struck);
  return struck;
}

function healed(context: FaultContext, fault: Fault): Fault {
  fault.ended_ms = context.clock();
  return fault;
}

/** Waits until every running instance answers /ready again (after Redis came back). */
async function instancesReady(instances: ServerInstance[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (const instance of instances.filter((candidate) => candidate.running)) {
    while (!(await isReady(instance.url)) && Date.now() < deadline) await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------
// Faults done to the instances.

/** restart: SIGTERM (the instance drains), then start it again on the same port; healed at /ready. */
export async function restartInstance(instance: ServerInstance, context: FaultContext): Promise<Fault> {
  const fault = strikeInstance("restart", instance, context, true);
  await instance.stop();
  await instance.start();
  return healed(context, fault);
}

/** crash: SIGKILL, then (unless `restart` is false: the live view's kill) start it again on the same port. */
export async function crashInstance(instance: ServerInstance, context: FaultContext, restart = true): Promise<Fault> {
  const fault = strikeInstance("crash", instance, context, restart);
  await instance.kill();
  if (!restart) return fault; // in effect until the live view starts it again
  await instance.start();
  return healed(context, fault);
}

/** stop: SIGTERM, and the instance stays down until `startInstance` (the live view's buttons). */
export async function stopInstance(instance: ServerInstance, context: FaultContext): Promise<Fault> {
  const fault = strikeInstance("stop", instance, context, false);
  await instance.stop();
  return fault;
}

/** start: a stopped or killed instance runs again, with empty memory. */
export async function startInstance(instance: ServerInstance, context: FaultContext): Promise<Fault> {
  await instance.start();
  const fault = strike(context, {
    kind: "start",
    target: instanceTarget(instance),
    restarted: true,
    ...losesNothing(context.design),
  });
  return healed(context, fault);
}

/** kill-busiest: SIGKILL the instance that served the most users last; it stays down. */
export async function killBusiest(
  instances: ServerInstance[],
  lastServedBy: Array<string | undefined>,
  context: FaultContext,
): Promise<Fault> {
  const counts = new Map<string, number>();
  for (const id of lastServedBy) if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
  const busiest = [...instances].sort((a, b) => (counts.get(b.serverId) ?? 0) - (counts.get(a.serverId) ?? 0))[0];
  const fault = strike(context, {
    kind: "kill-busiest",
    target: instanceTarget(busiest),
    restarted: false,
    users_held: counts.get(busiest.serverId) ?? 0,
    ...losesInstanceMemory(context.design),
  });
  await busiest.kill();
  return healed(context, fault); // healed at once: the victim stays down
}

/** rolling: each instance in turn stopped (SIGTERM), started again, and waited for (/ready). */
export async function rollingDeploy(instances: ServerInstance[], context: FaultContext): Promise<Fault> {
  const target: FaultTarget = {
    name: instances.map((each) => each.serverId).join(", "),
    role: "instances",
    port: null,
    pid: null,
  };
  const fault = strike(context, { kind: "rolling", target, restarted: true, ...losesInstanceMemory(context.design) });
  for (const instance of instances) {
    await instance.stop();
    await instance.start();
  }
  return healed(context, fault);
}

// ---------------------------------------------------------------------------------------------
// Faults done to Redis.

/**
 * store-restart: SIGTERM Redis and start it again at once, same port and folder; what it keeps
 * depends on its append-only log. `forget` throws the log away before the start, so that a Redis
 * that has one comes back as a Redis without persistence does: empty (the live view's Restart).
 */
export async function restartStore(
  redis: RedisServer,
  instances: ServerInstance[],
  context: FaultContext,
  { forget = false } = {},
): Promise<Fault> {
  const kept = redis.appendonly && !forget ? losesNothing(context.design) : losesRedis(context.design);
  const fault = strike(context, {
    kind: "store-restart",
    target: redisTarget(redis, "redis"),
    restarted: true,
    ...kept,
  });
  await redis.stop();
  if (forget) forgetAppendOnlyLog(redis);
  await redis.start();
  await instancesReady(instances);
  return healed(context, fault);
}

/** Removes what a stopped Redis would load at start: its append-only log (and a snapshot, if any). */
function forgetAppendOnlyLog(redis: RedisServer): void {
  for (const name of ["appendonlydir", "dump.rdb"])
    rmSync(path.join(redis.dir, name), { recursive: true, force: true });
}

/**
 * store-outage: SIGTERM Redis and keep it down for `heldMs` (the lab: 3 s), then start it again on
 * the same port and folder; with `heldMs` null it stays down until `endStoreOutage` (the live
 * view's Stop and Start Redis). `primary`: the Redis is a replicated set's primary (the
 * Sentinels promote a replica meanwhile).
 */
export async function storeOutage(
  redis: RedisServer,
  instances: ServerInstance[],
  context: FaultContext,
  heldMs: number | null = STORE_OUTAGE_MS,
  { primary = false } = {},
): Promise<Fault> {
  // A replicated primary's replicas hold what it held; one Redis keeps only what its log kept.
  const kept = redis.appendonly || primary ? losesNothing(context.design) : losesRedis(context.design);
  const fault = strike(context, {
    kind: "store-outage",
    target: redisTarget(redis, primary ? "redis-primary" : "redis"),
    restarted: heldMs !== null,
    ...kept,
    ...(heldMs !== null && { held_ms: heldMs }),
  });
  await redis.stop();
  if (heldMs === null) return fault;
  await sleep(heldMs);
  return endStoreOutage(fault, redis, instances, context);
}

/** Ends a store-outage: Redis started again on its port and folder, healed when every instance is ready. */
export async function endStoreOutage(
  fault: Fault,
  redis: RedisServer,
  instances: ServerInstance[],
  context: FaultContext,
): Promise<Fault> {
  await redis.start();
  await instancesReady(instances);
  fault.held_ms ??= context.clock() - fault.began_ms;
  return healed(context, fault);
}

/** The replicated store's current primary, as every Sentinel names it. */
async function agreedPrimary(replicated: ReplicatedRedis): Promise<RedisServer> {
  await replicated.sentinelsConnected();
  await replicated.failoverSettled(); // never strike in the middle of a failover the Sentinels started themselves
  const primary = await replicated.agreedPrimary();
  if (!primary) throw new Error("the Sentinels do not agree on a primary before the fault");
  return primary;
}

/**
 * kill-primary: SIGKILL the primary; healed when every Sentinel names the same new primary and it
 * says it is the master. The old one stays down (the live view's restart then starts it again,
 * and the Sentinels make it a replica).
 */
export async function killPrimary(
  replicated: ReplicatedRedis,
  instances: ServerInstance[],
  context: FaultContext,
): Promise<Fault> {
  const old = await agreedPrimary(replicated);
  const fault = strike(context, {
    kind: "kill-primary",
    target: redisTarget(old, "redis-primary"),
    restarted: false,
    ...losesNothing(context.design),
  });
  await old.kill();
  const next = await replicated.waitForNewPrimary(old);
  fault.promoted = { name: next.name, port: next.port };
  await instancesReady(instances);
  return healed(context, fault);
}

/**
 * freeze-primary: SIGSTOP the primary for `heldMs`, then SIGCONT. On replicated Redis the
 * Sentinels promote a replica meanwhile; the old primary comes back still a primary, for the
 * clients still connected to it, until a Sentinel's periodic INFO sees it (about 10 s): what it
 * acknowledged then is lost. The heal does not wait for that demotion. On one Redis, nothing is
 * promoted and nothing lost: requests wait for their command timeout and get 503.
 */
export async function freezePrimary(
  store: { replicated: ReplicatedRedis } | { redis: RedisServer },
  instances: ServerInstance[],
  context: FaultContext,
  heldMs = FREEZE_MS,
): Promise<Fault> {
  const replicated = "replicated" in store ? store.replicated : undefined;
  const old = replicated ? await agreedPrimary(replicated) : (store as { redis: RedisServer }).redis;
  const kept = replicated && !replicated.safe ? losesRedis(context.design) : losesNothing(context.design);
  const role = replicated ? "redis-primary" : "redis";
  const fault = strike(context, {
    kind: "freeze-primary",
    target: redisTarget(old, role),
    restarted: true,
    held_ms: heldMs,
    ...kept,
  });
  old.freeze();
  await sleep(heldMs);
  old.resume();
  if (replicated) {
    const next = await replicated.waitForNewPrimary(old);
    fault.promoted = { name: next.name, port: next.port };
  }
  await instancesReady(instances);
  return healed(context, fault);
}

// ---------------------------------------------------------------------------------------------
// Faults done to PostgreSQL.

function databaseTarget(postgres: PostgresServer): FaultTarget {
  return { name: postgres.name, role: "database", port: postgres.port, pid: postgres.pid ?? null };
}

/**
 * db-restart: SIGKILL PostgreSQL (and its per-connection children) mid-load, start it again on
 * the same port and folder; the write-ahead log brings back every committed transaction, so
 * nothing acknowledged is lost. Healed when every instance is ready again.
 */
export async function restartDatabase(
  postgres: PostgresServer,
  instances: ServerInstance[],
  context: FaultContext,
): Promise<Fault> {
  const fault = strike(context, {
    kind: "db-restart",
    target: databaseTarget(postgres),
    restarted: true,
    ...losesNothing(context.design),
  });
  await postgres.kill();
  await postgres.start();
  await instancesReady(instances);
  return healed(context, fault);
}

/** db-outage: SIGSTOP PostgreSQL for `heldMs`, then SIGCONT: requests meanwhile give up after 750 ms with 503 database_unavailable. */
export async function databaseOutage(
  postgres: PostgresServer,
  instances: ServerInstance[],
  context: FaultContext,
  heldMs = DB_OUTAGE_MS,
): Promise<Fault> {
  const fault = strike(context, {
    kind: "db-outage",
    target: databaseTarget(postgres),
    restarted: true,
    held_ms: heldMs,
    ...losesNothing(context.design),
  });
  postgres.freeze();
  await sleep(heldMs);
  postgres.resume();
  await instancesReady(instances);
  return healed(context, fault);
}

// ---------------------------------------------------------------------------------------------
// Not a fault of a process: the live view's burst, recorded the same way so that every report reads one list.

/** burst: ten uploads at once from one user (the `concurrent` scenario's race, on demand); nothing is struck. */
export function burstFault(user: { index: number; name: string }, context: FaultContext): Fault {
  const fault = strike(context, {
    kind: "burst",
    target: { name: `user ${user.index}`, role: "user", port: null, pid: null },
    restarted: true,
    ...losesNothing(context.design),
  });
  return fault;
}

// ---------------------------------------------------------------------------------------------
// The sentence, made from the fields.

/** One plain sentence for a fault, made from its fields only: what was done, to what, and what it kept or lost. */
export function faultSentence(fault: Fault): string {
  const { target } = fault;
  const on = target.port ? ` on port ${target.port}` : "";
  const lost = fault.loses.length ? `; lost: ${fault.loses.join(", ")}` : "";
  const promoted = fault.promoted
    ? `; the Sentinels promoted ${fault.promoted.name} (port ${fault.promoted.port})`
    : "";
  const held = fault.held_ms !== undefined ? ` for ${formatMs(fault.held_ms)}` : "";
  switch (fault.kind) {
    case "restart":
      return `SIGTERM ${target.name}, started again${on}${lost}`;
    case "crash":
      return fault.restarted
        ? `SIGKILL ${target.name}, started again${on}${lost}`
        : `SIGKILL ${target.name}${on}${lost}`;
    case "stop":
      return `SIGTERM ${target.name}${on}; it stays down until started${lost}`;
    case "start":
      return `${target.name} started again${on}, with empty memory`;
    case "kill-busiest":
      return `SIGKILL ${target.name}, which had served ${fault.users_held ?? 0} users last; it stays down${lost}`;
    case "rolling":
      return `restarted ${target.name} in turn (SIGTERM, start, /ready)${lost}`;
    case "store-restart":
      return `SIGTERM Redis${on}, started again at once${fault.loses.length ? `, empty${lost}` : "; this design lost nothing"}`;
    case "store-outage":
      return `SIGTERM Redis${on}, down${held}, started again${lost}`;
    case "kill-primary":
      return `SIGKILL the Redis primary ${target.name}${on}${promoted}; the old one stays down`;
    case "freeze-primary":
      return target.role === "redis-primary"
        ? `SIGSTOP the Redis primary ${target.name}${on}${held}, then SIGCONT${promoted}${fault.loses.length ? `; lost: what it acknowledged after the freeze (${fault.loses.join(", ")}), until a Sentinel demoted it` : "; this design lost nothing"}`
        : `SIGSTOP Redis${on}${held}, then SIGCONT`;
    case "db-restart":
      return `SIGKILL PostgreSQL${on}, started again${lost}`;
    case "db-outage":
      return `SIGSTOP PostgreSQL${on}${held}, then SIGCONT`;
    case "burst":
      return `${target.name} fired ten uploads at once`;
  }
}
