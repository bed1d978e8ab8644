// The lab's vocabulary, named exactly as the docs name it: the fifteen scenarios, their setups
// and faults, and the expected survival matrix that a run must agree with
// (docs/how-the-lab-works.md, "The scenarios" and "The expected matrix and the agreement
// rule"). An instructor who wants another scenario starts here.

import { Design, isPhase1 } from "../designs";
import { Verdict } from "../workbench/checker";
import type { FaultKind } from "../workbench/nemesis";

/** The verdicts are the checker's (scripts/workbench/checker.ts), named here too for the lab's own files. */
export type { Verdict };

/** The nemesis's faults that a scenario strikes: all but the live view's own. */
export type ScenarioFault = Exclude<FaultKind, "stop" | "start" | "burst">;

export interface ScenarioSetup {
  instances: 1 | 3;
  balancer: "none" | "round-robin" | "sticky";
  /** Redis flags beyond the defaults (`--save ""`): appendonly or not. */
  appendonly: boolean;
  /** One Redis, or a primary, two replicas and three Sentinels; "safe": the settings that close the freeze's window. */
  store: "single" | "replicated" | "replicated-safe";
  /** Seconds from the users' start (fault and heal included) at which the run ends even if they have not finished. */
  capSeconds: number;
  /** About how long one cell takes on 2 cores, two cells at a time (measured): the lab starts the longest first. */
  typicalSeconds: number;
  fault: ScenarioFault | "none";
  description: string;
}

/** What a scenario runs unless it says otherwise: one instance, no balancer, one Redis without persistence. */
const ONE_INSTANCE = { instances: 1, balancer: "none", appendonly: false, store: "single", capSeconds: 10 } as const;
/** A store scenario's heal takes longer (an outage of 3 s, a failover of about 2.4 s): a longer cap. */
const LONGER_HEAL = { ...ONE_INSTANCE, capSeconds: 15 } as const;

/** The scenarios in the docs' order, which is the matrix's column order. */
const SETUP_TABLE = {
  baseline: { ...ONE_INSTANCE, typicalSeconds: 1.7, fault: "none", description: "1 instance, no fault" },
  restart: {
    ...ONE_INSTANCE,
    typicalSeconds: 3.5,
    fault: "restart",
    description: "SIGTERM, then start again on the same port",
  },
  crash: {
    ...ONE_INSTANCE,
    typicalSeconds: 3.5,
    fault: "crash",
    description: "SIGKILL, then start again on the same port",
  },
  "round-robin": {
    ...ONE_INSTANCE,
    instances: 3,
    balancer: "round-robin",
    typicalSeconds: 2.6,
    fault: "none",
    description: "3 instances behind a round-robin balancer",
  },
  "sticky-failover": {
    ...ONE_INSTANCE,
    instances: 3,
    balancer: "sticky",
    typicalSeconds: 3.7,
    fault: "kill-busiest",
    description: "3 sticky instances; SIGKILL the one holding the most users",
  },
  "rolling-deploy": {
    ...ONE_INSTANCE,
    instances: 3,
    balancer: "round-robin",
    typicalSeconds: 9.4,
    fault: "rolling",
    description: "restart each of 3 instances in turn",
  },
  concurrent: {
    ...ONE_INSTANCE,
    typicalSeconds: 6.1,
    fault: "none",
    description: "10 uploads at once per user on one session",
  },
  "store-restart": {
    ...ONE_INSTANCE,
    typicalSeconds: 2.5,
    fault: "store-restart",
    description: "restart Redis without persistence",
  },
  "store-restart-aof": {
    ...ONE_INSTANCE,
    appendonly: true,
    typicalSeconds: 2.6,
    fault: "store-restart",
    description: "restart Redis with appendonly yes",
  },
  "store-outage": {
    ...LONGER_HEAL,
    appendonly: true,
    typicalSeconds: 6,
    fault: "store-outage",
    description: "Redis down for 3 s",
  },
  "store-failover": {
    ...LONGER_HEAL,
    store: "replicated",
    typicalSeconds: 6.8,
    fault: "kill-primary",
    description: "SIGKILL the Redis primary; the Sentinels promote a replica",
  },
  "store-freeze": {
    ...LONGER_HEAL,
    store: "replicated",
    typicalSeconds: 9.7,
    fault: "freeze-primary",
    description: "SIGSTOP the Redis primary for 5 s; the Sentinels promote a replica meanwhile",
  },
  "store-freeze-safe": {
    ...LONGER_HEAL,
    store: "replicated-safe",
    typicalSeconds: 9.6,
    fault: "freeze-primary",
    description: "the same freeze, with the safe replication settings",
  },
  "db-restart": {
    ...LONGER_HEAL,
    typicalSeconds: 5.3,
    fault: "db-restart",
    description: "SIGKILL PostgreSQL mid-load, start it again",
  },
  "db-outage": {
    ...LONGER_HEAL,
    typicalSeconds: 9,
    fault: "db-outage",
    description: "SIGSTOP PostgreSQL for 3 s, then SIGCONT",
  },
} satisfies Record<string, ScenarioSetup>;

export type Scenario = keyof typeof SETUP_TABLE;
export const SETUPS: Record<Scenario, ScenarioSetup> = SETUP_TABLE;
export const SCENARIOS = Object.keys(SETUPS) as Scenario[];

export function isStoreScenario(scenario: Scenario): boolean {
  return scenario.startsWith("store-");
}

/** A scenario that faults PostgreSQL: its cell needs a server of its own. */
export function isDatabaseScenario(scenario: Scenario): boolean {
  return scenario.startsWith("db-");
}

/** Why a cell does not apply, or undefined when it does. */
export function notApplicable(design: Design, scenario: Scenario): string | undefined {
  if (isPhase1(design) && isStoreScenario(scenario)) return "phase-1 designs keep no data in Redis";
  if (isPhase1(design) && isDatabaseScenario(scenario)) return "phase-1 designs keep no data in PostgreSQL";
  return undefined;
}

/** A cell's expectation: the verdict, and † where survived and degraded both agree. */
export interface Expectation {
  verdict: Exclude<Verdict, "skipped">;
  dagger: boolean;
}

const S: Expectation = { verdict: "survived", dagger: false };
const SD: Expectation = { verdict: "survived", dagger: true };
const F: Expectation = { verdict: "failed", dagger: false };
const D: Expectation = { verdict: "degraded", dagger: false };
const NA: Expectation = { verdict: "n/a", dagger: false };
/** Degraded or survived: the failover gap (about 2.4 s) is longer than the clients' 1 s deadline, but errors are not required. */
const DD: Expectation = { verdict: "degraded", dagger: true };

/** The expected matrix (docs/how-the-lab-works.md), row by row in SCENARIOS order. */
export const EXPECTED: Record<Design, Expectation[]> = {
  stateless: [S, SD, SD, S, SD, SD, S, NA, NA, NA, NA, NA, NA, NA, NA],
  stateful: [S, F, F, F, F, F, S, NA, NA, NA, NA, NA, NA, NA, NA],
  "memory-session": [S, F, F, F, F, F, F, SD, SD, SD, SD, SD, SD, DD, DD],
  "redis-session": [S, SD, SD, S, SD, SD, F, F, SD, D, DD, F, DD, DD, DD],
  "cached-session": [S, SD, SD, F, SD, F, F, F, SD, D, DD, F, DD, DD, DD],
  jwt: [S, SD, SD, S, SD, SD, S, F, SD, D, DD, DD, DD, DD, DD],
  "atomic-session": [S, SD, SD, S, SD, SD, S, F, SD, D, DD, F, DD, DD, DD],
};

export function expectation(design: Design, scenario: Scenario): Expectation {
  return plantedExpectation(design, scenario) ?? EXPECTED[design][SCENARIOS.indexOf(scenario)];
}

/**
 * For the lab's own tests only: LAB_PLANT_EXPECTATION="design:scenario=verdict" replaces one
 * cell's expectation, so that a test can check that a wrong expectation makes the run exit 1.
 */
function plantedExpectation(design: Design, scenario: Scenario): Expectation | undefined {
  const match = /^([a-z-]+):([a-z-]+)=(survived|degraded|failed)$/.exec(process.env.LAB_PLANT_EXPECTATION ?? "");
  if (!match || match[1] !== design || match[2] !== scenario) return undefined;
  return { verdict: match[3] as Expectation["verdict"], dagger: false };
}

/** A verdict that agrees only through the † (survived for degraded, or the other way): a timing note. */
export function isDaggerSwap(expected: Expectation, verdict: Verdict): boolean {
  return expected.dagger && verdict !== expected.verdict && (verdict === "survived" || verdict === "degraded");
}
