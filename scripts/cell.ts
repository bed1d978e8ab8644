// One cell of the survival matrix: one design under one scenario. It starts everything the
// cell needs (its own Redis, its instances, a balancer), runs the workload, lets the nemesis
// strike, reads back what was acknowledged, stops everything it started, and judges
// (docs/how-the-lab-works.md, "What one cell does").

import { mkdirSync } from "node:fs";
import path from "node:path";
import { Balancer } from "./balancer";
import { check, Judgement } from "./checker";
import { History } from "./history";
import { runFault } from "./nemesis";
import { RealBalancer, RunningBalancer, startRealBalancer } from "./real-balancers";
import { Instance } from "./processes";
import { findRedisServer, RedisProcess, startRedis } from "./redis-process";
import { Design, isPhase1, isStoreScenario, Scenario, SETUPS, Verdict } from "./scenarios";
import { Workload } from "./workload";

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
}

/** Servers in the lab hash passwords cheaply and allow many logins: the lab is about sessions. */
const LAB_ENV = {
  PASSWORD_HASH_COST: "10",
  RATE_LIMIT_PER_MINUTE: "1000000",
  SESSION_SECRET: "lab-run-secret-shared-by-every-instance-0123456789",
  SESSION_TTL_SECONDS: "1800",
  KEY_PREFIX: "lab:",
  LOG_LEVEL: "warn",
};

export function notApplicable(design: Design, scenario: Scenario): string | undefined {
  if (isPhase1(design) && isStoreScenario(scenario)) return "phase-1 designs keep no data in Redis";
  return undefined;
}

export async function runCell(options: CellOptions): Promise<CellResult> {
  const { design, scenario } = options;
  const started = Date.now();
  const na = notApplicable(design, scenario);
  if (na) return { design, scenario, verdict: "n/a", reason: na, duration_ms: 0 };
  if (!isPhase1(design) && !findRedisServer()) {
    return { design, scenario, verdict: "skipped", reason: "redis-server is not installed (npm run setup installs it)", duration_ms: 0 };
  }

  const setup = SETUPS[scenario];
  const cellDir = path.join(options.runDir, options.tag);
  mkdirSync(cellDir, { recursive: true });
  let redis: RedisProcess | undefined;
  const instances: Instance[] = [];
  let balancer: Balancer | undefined;
  let realBalancer: RunningBalancer | undefined;
  let workload: Workload | undefined;
  try {
    if (!isPhase1(design)) {
      mkdirSync(path.join(cellDir, "redis"), { recursive: true });
      redis = await startRedis({ appendonly: setup.appendonly, dir: path.join(cellDir, "redis"), pidFile: path.join(cellDir, "redis-server.pid") });
    }
    const env = { ...LAB_ENV, DATA_DIR: path.join(cellDir, "data"), ...(redis ? { REDIS_URL: redis.url } : {}) };
    for (let i = 1; i <= setup.instances; i += 1) {
      const serverId = `${design}-${i}`;
      instances.push(new Instance({ design, serverId, env, logFile: path.join(cellDir, `${serverId}.log`) }));
    }
    await Promise.all(instances.map((instance) => instance.start()));
    let url = instances[0].url;
    if (setup.balancer !== "none") {
      const backends = instances.map((instance) => ({ id: instance.serverId, url: instance.url }));
      const lb = options.lb ?? "builtin";
      if (lb === "builtin") {
        balancer = new Balancer(backends, setup.balancer);
        url = `http://127.0.0.1:${await balancer.listen()}`;
      } else {
        realBalancer = await startRealBalancer(lb, backends, setup.balancer, path.join(cellDir, lb));
        url = realBalancer.url;
      }
    }

    const t0 = performance.now();
    const clock = () => performance.now() - t0;
    workload = new Workload({ design, url, users: options.users, seed: options.seed, concurrent: scenario === "concurrent", tag: String(options.cellNumber), clock });
    const cap = Date.now() + setup.capSeconds * 1000;
    const spareTokens = design === "jwt";
    const active = workload;
    active.start(async (user) => {
      if (spareTokens) await user.prepareSpareToken();
    });

    let fault: History["fault"];
    if (setup.fault === "none") {
      await active.waitForLoops(4, cap);
    } else {
      await active.waitForLoops(2, cap);
      const faultStart = clock();
      const description = await runFault(scenario, {
        instances,
        redis,
        lastServedBy: () => active.users.map((user) => [...active.operations].reverse().find((op) => op.user === user.index && op.servedBy)?.servedBy),
      });
      fault = { start: faultStart, end: clock(), description };
      // Loops started after the heal: one already under way when the fault healed does not count.
      await active.waitForMoreLoops(active.loopsStarted(), 2, cap);
    }
    await active.stop();
    if (spareTokens) await active.probeSpareTokens();
    const live = instances.find((instance) => instance.running) ?? instances[0];
    await active.readBack(live.url);
    const history = active.history(design, scenario, clock(), fault);
    if (!history.operations.some((op) => op.name === "register" && (op.outcome === "ok" || op.status === 409))) {
      const first = history.operations[0];
      throw new Error(`no virtual user could register (first answer: ${first?.status ?? first?.attempts[0]?.error ?? "none"} ${first?.code ?? ""})`);
    }
    const judgement = check(history);
    return { design, scenario, ...judgement, duration_ms: Date.now() - started, history };
  } finally {
    await workload?.stop().catch(() => undefined);
    await balancer?.close();
    await realBalancer?.stop();
    await Promise.all(instances.map((instance) => instance.kill()));
    await redis?.dispose();
  }
}
