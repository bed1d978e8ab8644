// One cell of the survival matrix: one design under one scenario. It starts everything the
// cell needs (its own Redis, its instances, a balancer: processes/stack.ts), runs the workload, lets the nemesis
// strike, reads back what was acknowledged, stops everything it started, and judges
// (docs/how-the-lab-works.md, "What one cell does").

import { mkdirSync } from "node:fs";
import path from "node:path";
import { Design, isPhase1, probesSpareLogin, stateHomes } from "../designs";
import { MachineLoad, timeReferenceRequests, watchLoad } from "../processes/machine";
import { Parts } from "../processes/managed-process";
import { RealBalancer } from "../processes/nginx-haproxy";
import { findPostgres, PostgresServer } from "../processes/postgres";
import { findRedisServer, RedisServer } from "../processes/redis";
import { ReplicatedRedis } from "../processes/replicated-redis";
import { ServerInstance } from "../processes/server-instance";
import { Stack, startStack } from "../processes/stack";
import { check, Judgement } from "../workbench/checker";
import { History } from "../workbench/history";
import * as nemesis from "../workbench/nemesis";
import { isDatabaseScenario, notApplicable, Scenario, ScenarioSetup, SETUPS, Verdict } from "./scenarios";
import { Workload } from "../workbench/workload";

export interface CellOptions {
  design: Design;
  scenario: Scenario;
  users: number;
  seed: number;
  runDir: string;
  /** Unique per cell and repetition: names the cell's folder. */
  tag: string;
  /** A short number unique per cell and repetition: names its users and keys. */
  cellNumber: number;
  /** Which balancer the balancer scenarios use. */
  lb?: "builtin" | RealBalancer;
  /** The run's SESSION_SECRET, shared by every instance (processes/server-env.ts). */
  secret: string;
  /** The run's shared PostgreSQL (with the migrated template); a cell that faults PostgreSQL starts its own. */
  postgres?: PostgresServer;
}

export interface CellResult extends Partial<Omit<Judgement, "verdict">> {
  design: Design;
  scenario: Scenario;
  verdict: Verdict;
  reason?: string;
  /** The cell could not run because of the lab itself (not a missing redis-server). */
  crashed?: boolean;
  duration_ms: number;
  /** The history, for the HTML timeline (not written to the JSON). */
  history?: History;
  /** What phase 2's database cost at the cell's start, in ms (processes/postgres.ts). */
  database_cost?: Stack["databaseCost"];
  /** How busy the machine was while the cell ran: printed beside a disagreement or a † swap. */
  load?: MachineLoad;
  /** Set-up operations that failed and were tried again (not counted in ops): a starved machine shows here first. */
  setup_retries?: number;
  /** A cell that was run again, alone: what its first run read, why, on what load, and (when it failed) its first anomaly. */
  first_run?: {
    verdict: Verdict;
    note: string;
    load?: MachineLoad;
    first_anomaly?: CellResult["first_anomaly"];
    /** The first run could not run at all (its note says why). */
    crashed?: boolean;
  };
}

/** How many users of `concurrent` fire their burst of 10 at the same moment (the others wait their turn). */
const BURSTS_AT_ONCE = 2;
/**
 * A user starts at most 10 loops a second, the first 6 at once: the 2 loops before the fault and
 * the 2 after it run at full speed, and a user the fault does not touch (memory-session while
 * Redis is frozen) no longer runs 600 loops flat out, 4,600 requests that told nothing new, on
 * the cores the cells beside it needed.
 */
const LOOPS_PER_SECOND = 10;
const LOOP_BURST = 6;
/** How many times in all a user tries a set-up operation (registration, login, spare login and logout) that failed. */
const SETUP_TRIES = 3;

/**
 * For the lab's own tests only: LAB_PLANT_REGISTRATION_FAILURE="design:scenario" sends that
 * cell's registrations where nothing listens, on every run of it, so that a test can check
 * that a cell whose users cannot set up is one the lab could not run (exit 2).
 */
function plantedRegistrationFailure(design: Design, scenario: Scenario): boolean {
  return process.env.LAB_PLANT_REGISTRATION_FAILURE === `${design}:${scenario}`;
}

/** The scenario's fault, done by the nemesis (scripts/workbench/nemesis.ts); resolves once it has healed. */
async function strikeScenarioFault(
  kind: Exclude<ScenarioSetup["fault"], "none">,
  instances: ServerInstance[],
  store: { redis?: RedisServer; replicated?: ReplicatedRedis; postgres?: PostgresServer },
  context: nemesis.FaultContext & { lastServedBy: () => Array<string | undefined> },
): Promise<nemesis.Fault> {
  const [first] = instances;
  const needRedis = (): RedisServer => {
    if (!store.redis) throw new Error(`the ${kind} fault needs a Redis`);
    return store.redis;
  };
  const needPostgres = (): PostgresServer => {
    if (!store.postgres) throw new Error(`the ${kind} fault needs a PostgreSQL of the cell's own`);
    return store.postgres;
  };
  const needReplicated = (): ReplicatedRedis => {
    if (!store.replicated) throw new Error(`the ${kind} fault needs replicated Redis`);
    return store.replicated;
  };
  switch (kind) {
    case "restart":
      return nemesis.restartInstance(first, context);
    case "crash":
      return nemesis.crashInstance(first, context);
    case "kill-busiest":
      return nemesis.killBusiest(instances, context.lastServedBy(), context);
    case "rolling":
      return nemesis.rollingDeploy(instances, context);
    case "store-restart":
      return nemesis.restartStore(needRedis(), instances, context);
    case "store-outage":
      return nemesis.storeOutage(needRedis(), instances, context);
    case "kill-primary":
      return nemesis.killPrimary(needReplicated(), instances, context);
    case "freeze-primary":
      return nemesis.freezePrimary({ replicated: needReplicated() }, instances, context);
    case "db-restart":
      return nemesis.restartDatabase(needPostgres(), instances, context);
    case "db-outage":
      return nemesis.databaseOutage(needPostgres(), instances, context);
  }
}

export async function runCell(options: CellOptions): Promise<CellResult> {
  const { design, scenario } = options;
  const started = Date.now();
  const na = notApplicable(design, scenario);
  if (na) return { design, scenario, verdict: "n/a", reason: na, duration_ms: 0 };
  // Phase 2 needs both stores: without one, its cells are skipped and say which is missing.
  const missing = isPhase1(design)
    ? undefined
    : !findRedisServer()
      ? "redis-server is not installed (npm run setup installs it)"
      : !findPostgres()
        ? "PostgreSQL is not installed (npm run setup installs it)"
        : undefined;
  if (missing) return { design, scenario, verdict: "skipped", reason: missing, duration_ms: 0 };

  const setup = SETUPS[scenario];
  const load = watchLoad();
  const cellDir = path.join(options.runDir, options.tag);
  mkdirSync(cellDir, { recursive: true });
  const parts = new Parts();
  let workload: Workload | undefined;
  let stack: Stack | undefined;
  try {
    stack = await startStack({
      design,
      instances: setup.instances,
      balancer: setup.balancer === "none" ? undefined : setup.balancer,
      lb: options.lb,
      store: setup.store === "single" ? "single" : setup.store === "replicated" ? "sentinel" : "sentinel-safe",
      appendonly: setup.appendonly,
      dir: cellDir,
      secret: options.secret,
      database:
        options.postgres && !isDatabaseScenario(scenario)
          ? { server: options.postgres, name: `cell${options.cellNumber}${options.tag.includes("--rerun") ? "r" : ""}` }
          : undefined,
    });
    const { instances, redis, replicated, postgres, url, env } = stack;

    const referenceMs = await timeReferenceRequests(`${url}/health`);
    const t0 = performance.now();
    const clock = () => performance.now() - t0;
    workload = new Workload({
      design,
      url,
      users: options.users,
      seed: options.seed,
      concurrent: scenario === "concurrent",
      burstsAtOnce: BURSTS_AT_ONCE,
      setupTries: SETUP_TRIES,
      tag: `cell${options.cellNumber}`,
      clock,
      plantRegistrationFailure: plantedRegistrationFailure(design, scenario),
      loopsPerSecond: LOOPS_PER_SECOND,
      loopBurst: LOOP_BURST,
    });
    const cap = Date.now() + setup.capSeconds * 1000;
    const spareLogins = probesSpareLogin(design);
    const active = workload;
    active.start(async (user) => {
      if (spareLogins) await user.prepareSpareLogin();
    });
    // No cell runs short-handed: every user registers and logs in (and prepares its spare
    // login) before the fault, or the lab could not run this cell and says why.
    const unready = await active.waitForSetup(cap);
    if (unready.length > 0) {
      throw new Error(
        `${unready.length} of ${options.users} users could not register and log in before the fault; first, ${unready[0]}`,
      );
    }

    let fault: History["fault"];
    let reader: ServerInstance | undefined;
    let readerStarted: Promise<void> | undefined;
    if (setup.fault === "none") {
      await active.waitForLoops(4, cap);
    } else {
      await active.waitForLoops(2, cap);
      fault = await strikeScenarioFault(
        setup.fault,
        instances,
        { redis, replicated, postgres },
        {
          design,
          clock,
          lastServedBy: () =>
            active.users.map(
              (user) => [...active.operations].reverse().find((op) => op.user === user.index && op.servedBy)?.servedBy,
            ),
        },
      );
      if (replicated) {
        // The read-back's instance starts now, while the users do their last loops: through the
        // Sentinels to the primary they name after the heal, on a connection made after the
        // fault (the users' instances may still hold one to a primary that lost its post: a
        // frozen one comes back believing it leads, until a Sentinel notices, about 10 s later).
        reader = parts.add(new ServerInstance({ design, serverId: `${design}-readback`, env, dir: cellDir }));
        readerStarted = reader.start();
        readerStarted.catch(() => undefined); // awaited below; until then a failure must not count as unhandled
      }
      // Loops started after the heal: one already under way when the fault healed does not count.
      await active.waitForMoreLoops(active.loopsStarted(), 2, cap);
    }
    await active.stop();
    if (spareLogins) await active.probeSpareLogins();
    await readerStarted;
    reader ??= instances.find((instance) => instance.running) ?? instances[0];
    // On replicated Redis the read-back instance is a new one, connected where the store is now:
    // the users' sessions are read there too, where a design keeps them in Redis.
    const homes = stateHomes(design);
    await active.readBack(reader.url, {
      session: replicated !== undefined && (homes.sessions === "redis" || homes["session fields"] === "redis"),
    });
    const history = active.history(design, scenario, clock(), fault);
    const judgement = check(history);
    return {
      design,
      scenario,
      ...judgement,
      duration_ms: Date.now() - started,
      database_cost: stack.databaseCost,
      history,
      load: { ...load(), reference_ms: referenceMs },
      setup_retries: history.operations.filter(
        (op) => !op.workload && (op.name === "register" || op.name === "login" || op.name === "logout"),
      ).length,
    };
  } finally {
    load(); // stops the measurement, whatever happened
    await workload?.stop().catch(() => undefined);
    await parts.stop();
    await stack?.stop();
  }
}
