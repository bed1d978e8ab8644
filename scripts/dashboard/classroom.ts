// The live classroom view's model: the cluster `npm run cluster` starts (3 instances, Redis or
// replicated Redis, the built-in balancer), a few virtual users at a pace a class can follow, the
// controls a presenter clicks (actions.ts), and what the page is sent: each request as it is
// served, each user's session, the checker's running figures, the store, and one plain sentence
// for each event that matters (docs/instructor-guide.md, "The 10-minute demo"). The users are the
// lab's own (scripts/workbench/workload.ts), slowed down; every fault is the nemesis's
// (scripts/workbench/nemesis.ts), recorded as data, so that a sentence about an anomaly names the
// fault that was in effect when it arose.

import { randomBytes } from "node:crypto";
import { Design, DESIGNS, hasSessionView, isDesign, isPhase1, probesSpareLogin, stateHome } from "../designs";
import { Strategy } from "../processes/builtin-balancer";
import { sleep } from "../processes/managed-process";
import { RedisServer } from "../processes/redis";
import { SentinelEvent, watchSentinelEvents } from "../processes/replicated-redis";
import { Stack, startStack } from "../processes/stack";
import * as nemesis from "../workbench/nemesis";
import { Fault } from "../workbench/nemesis";
import { Workload } from "../workbench/workload";
import { Action, findAction } from "./actions";
import { LiveFeed, Lit, Mark, Narrated, UserRow } from "./live-feed";
import { Rule } from "./live-check";
import {
  burstSentence,
  explainAnomaly,
  faultLabel,
  healSentence,
  homeSentence,
  sentinelSentence,
  strikeSentence,
} from "./narrator";
import { NodeView, StorePanel } from "./store-panel";

export type StoreKind = "single" | "sentinel";

export interface ClassroomOptions {
  design: Design;
  lb: Strategy;
  store: StoreKind;
  users: number;
  /** The pause between a user's operations, in ms. */
  paceMs: number;
}

export interface BurstView {
  user: number;
  at: number;
  /** Per upload: whether it was acknowledged, and whether the session view that followed listed it. */
  uploads: Array<{ filename: string; acknowledged: boolean; kept: boolean | null }>;
  lost: number;
  sentence: string;
}

export interface Snapshot {
  t: number;
  design: Design;
  designs: readonly Design[];
  lb: Strategy;
  store: StoreKind | "none";
  paused: boolean;
  busy: string | null;
  balancerUrl: string | null;
  instances: Array<{
    id: string;
    port: number;
    pid: number | null;
    state: "up" | "down" | "starting" | "stopping";
    served: number;
  }>;
  users: UserRow[];
  figures: Record<Rule, number> & { ops: number; ok: number; errors: number };
  nodes: NodeView[];
  burst: BurstView | null;
}

type Refusal = { status: number; error: string; message: string };

/** The lanes and rows of the page, and everything the controls do to the cluster. */
export class Classroom {
  design: Design;
  lb: Strategy;
  store: StoreKind;
  paused = false;
  busy: string | null = null;
  private stack: Stack | undefined;
  private workload: Workload | undefined;
  private readonly feed = new LiveFeed();
  private readonly panel = new StorePanel();
  private nodes: NodeView[] = [];
  private started = Date.now();
  private generation = 0;
  private burst: BurstView | null = null;
  private transitions = new Map<string, "starting" | "stopping">();
  /** Every fault done since the cluster (re)started, as the nemesis recorded it: the reasons a session broke. */
  private faults: Fault[] = [];
  private frozen = new Set<RedisServer>();
  private waiters: Array<() => void> = [];
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private unwatchSentinels: (() => Promise<void>) | undefined;
  /** The Sentinel announcements already narrated (each is heard from up to three Sentinels). */
  private readonly sentinelHeard = new Map<string, number>();

  constructor(private readonly options: ClassroomOptions) {
    this.design = options.design;
    this.lb = options.lb;
    this.store = options.store;
  }

  get balancerUrl(): string | undefined {
    return this.stack?.balancerUrl;
  }

  /** The processes the cluster runs, for the start-up lines. */
  describe(): string[] {
    const stack = this.stack;
    if (!stack) return [];
    const lines = stack.instances.map(
      (instance) => `  ${instance.serverId.padEnd(20)} ${instance.url}  (pid ${instance.pid})`,
    );
    if (stack.redis)
      lines.push(
        `  ${"redis-server".padEnd(20)} ${stack.redis.url}  (pid ${stack.redis.pid})   watch it: redis-cli -p ${stack.redis.port} monitor`,
      );
    for (const node of stack.replicated?.nodes ?? [])
      lines.push(`  ${node.name.padEnd(20)} redis://127.0.0.1:${node.port}  (pid ${node.pid})`);
    return lines;
  }

  now(): number {
    return Date.now() - this.started;
  }

  async start(): Promise<void> {
    const store = isPhase1(this.design) ? "single" : this.store;
    // With its append-only log, as the lab's store-outage: Stop and Start Redis keep every session.
    this.stack = await startStack({
      design: this.design,
      instances: 3,
      balancer: this.lb,
      store,
      appendonly: true,
      classroom: true,
    });
    if (this.stack.replicated) {
      const replicated = this.stack.replicated;
      this.unwatchSentinels = await watchSentinelEvents(replicated, (event) => this.narrateSentinelEvent(event));
    }
    this.startUsers();
    const where = isPhase1(this.design)
      ? ""
      : store === "sentinel"
        ? ", on replicated Redis (a primary, two replicas, three Sentinels)"
        : ", on one Redis with its append-only log";
    this.say(
      `${this.design}: 3 instances behind the ${this.lb} balancer${where}. ${homeSentence(this.design)}`,
      "info",
    );
  }

  private startUsers(): void {
    const url = this.stack?.balancerUrl;
    if (!url) throw new Error("the cluster has no balancer");
    this.generation += 1;
    this.workload = new Workload({
      design: this.design,
      url,
      users: this.options.users,
      seed: this.generation,
      concurrent: false,
      tag: classroomTag(this.generation),
      clock: () => this.now(),
      paceMs: this.options.paceMs,
      gate: () => this.gate(),
      reregister: true,
    });
    this.feed.followNewUsers();
    this.workload.start(async (user) => {
      if (probesSpareLogin(this.design)) await user.prepareSpareLogin();
    });
  }

  /**
   * Promotion and demotion, from the Sentinels' own announcements: each of the three announces
   * what it saw, so one sentence per event (its type and message) however many heard it.
   */
  private narrateSentinelEvent(event: SentinelEvent): void {
    const key = `${event.type} ${event.detail.replace(/#.*$/, "").trim()}`; // "#quorum 2/2" differs between Sentinels
    if (event.at - (this.sentinelHeard.get(key) ?? -Infinity) < 5000) return;
    this.sentinelHeard.set(key, event.at);
    const nameOf = (port: string) =>
      this.stack?.replicated?.nodes.find((node) => String(node.port) === port)?.name ?? `the node on port ${port}`;
    const sentence = sentinelSentence(event.type, event.detail, nameOf);
    if (!sentence) return;
    if (event.type === "+switch-master") this.mark(`promoted ${nameOf(event.detail.split(" ").at(-1) ?? "")}`);
    this.say(sentence.text, sentence.tone);
  }

  private gate(): Promise<void> {
    return this.paused && !this.closed ? new Promise((resolve) => this.waiters.push(resolve)) : Promise.resolve();
  }

  /**
   * Checks an action against what its row needs and queues it: actions run one at a time, in
   * the order asked (pause and resume at once). Answers a refusal (the POST answers 400 or 409),
   * or undefined once it is queued.
   */
  request(name: string, body: Record<string, unknown>): Refusal | undefined {
    const action = findAction(name) as Action;
    const stack = this.stack;
    if (!stack || this.closed) return { status: 409, error: "not_running", message: "the cluster is not running" };
    const value = this.valueFor(action, body, stack);
    if (typeof value !== "string" && value !== undefined) return value;
    if (action.immediate) return void action.run(this, value);
    this.queue = this.queue
      .then(async () => {
        if (!this.stack || this.closed) return;
        this.busy = action.name;
        try {
          await action.run(this, value);
        } finally {
          this.busy = null;
        }
      })
      .catch((error: Error) => this.say(`${action.label} failed: ${error.message}`, "bad"));
    return undefined;
  }

  /** What the action's row needs, read from the request's body: the value, or the refusal. */
  private valueFor(action: Action, body: Record<string, unknown>, stack: Stack): string | Refusal | undefined {
    switch (action.needs) {
      case "instance": {
        const ids = stack.instances.map((candidate) => candidate.serverId);
        if (typeof body.instance === "string" && ids.includes(body.instance)) return body.instance;
        return { status: 400, error: "unknown_instance", message: `"instance" must be one of ${ids.join(", ")}` };
      }
      case "store":
        if (!isPhase1(this.design)) return undefined;
        return {
          status: 409,
          error: "no_store",
          message: `${this.design} keeps no data in Redis: there is no store to act on`,
        };
      case "design":
        if (isDesign(body.design)) return body.design;
        return { status: 400, error: "unknown_design", message: `"design" must be one of ${DESIGNS.join(", ")}` };
      case "strategy":
        if (body.strategy === "round-robin" || body.strategy === "sticky") return body.strategy;
        return { status: 400, error: "unknown_strategy", message: `"strategy" must be round-robin or sticky` };
      case null:
        return undefined;
    }
  }

  setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    this.mark(paused ? "paused" : "resumed");
    this.say(
      paused ? "The users are paused: each finishes what it was doing, then waits." : "The users go on.",
      "info",
    );
    if (!paused) for (const wake of this.waiters.splice(0)) wake();
  }

  // -------------------------------------------------------------------------------------------
  // The controls: each runs one of the nemesis's faults and narrates the record it returns.

  /** What every fault of this cluster is told: the design, the view's clock, and a sentence the moment it strikes. */
  private context(): nemesis.FaultContext {
    return {
      design: this.design,
      clock: () => this.now(),
      onStrike: (fault) => {
        this.faults.push(fault);
        this.mark(faultLabel(fault));
        this.say(strikeSentence(this.design, fault), fault.kind === "start" ? "good" : "fault");
      },
    };
  }

  private instance(id: string) {
    return (this.stack as Stack).instances.find((candidate) => candidate.serverId === id);
  }

  async killInstance(id: string): Promise<void> {
    const instance = this.instance(id);
    if (!instance?.running) return this.say(`${id} is not running.`, "info");
    this.transitions.set(id, "stopping");
    await nemesis.crashInstance(instance, this.context(), false).finally(() => this.transitions.delete(id));
  }

  async stopInstance(id: string): Promise<void> {
    const instance = this.instance(id);
    if (!instance?.running) return this.say(`${id} is not running.`, "info");
    this.transitions.set(id, "stopping");
    await nemesis.stopInstance(instance, this.context()).finally(() => this.transitions.delete(id));
  }

  async startInstance(id: string): Promise<void> {
    const instance = this.instance(id);
    if (!instance || instance.running) return this.say(`${id} is already running.`, "info");
    this.transitions.set(id, "starting");
    const started = await nemesis.startInstance(instance, this.context()).finally(() => this.transitions.delete(id));
    this.endOpenFaults((fault) => fault.target.name === started.target.name);
  }

  async rollingDeploy(): Promise<void> {
    const stack = this.stack as Stack;
    const fault = await nemesis.rollingDeploy(stack.instances, this.context());
    this.say(healSentence(this.design, fault), "info");
  }

  /** The Redis node a store control acts on: the primary the Sentinels agree on, or the one Redis. */
  private async storeTarget(): Promise<RedisServer | undefined> {
    const stack = this.stack as Stack;
    const target = stack.replicated ? await stack.replicated.agreedPrimary() : stack.redis;
    if (target?.running) return target;
    this.say(
      stack.replicated
        ? "The Sentinels do not agree on a primary yet: try again in a moment."
        : "Redis is not running: start it first.",
      "info",
    );
    return undefined;
  }

  async restartRedis(): Promise<void> {
    const stack = this.stack as Stack;
    const target = await this.storeTarget();
    if (!target) return;
    if (stack.replicated) {
      // The primary killed and a replica promoted; the old one then rejoins as a replica.
      const fault = await nemesis.killPrimary(stack.replicated, stack.instances, this.context());
      this.say(healSentence(this.design, fault), "good");
      await target.start();
    } else {
      const fault = await nemesis.restartStore(target, stack.instances, this.context(), { forget: true });
      this.say(healSentence(this.design, fault), "info");
    }
    if (probesSpareLogin(this.design)) {
      await sleep(500);
      await this.workload?.probeSpareLogins();
    }
  }

  async stopRedis(): Promise<void> {
    const stack = this.stack as Stack;
    const target = await this.storeTarget();
    if (!target) return;
    // Open-ended: in effect until Start Redis (on replicated Redis the Sentinels promote a replica meanwhile).
    await nemesis.storeOutage(target, stack.instances, this.context(), null, { primary: !!stack.replicated });
  }

  async startRedis(): Promise<void> {
    const stack = this.stack as Stack;
    const nodes = stack.replicated ? stack.replicated.nodes : stack.redis ? [stack.redis] : [];
    const down = nodes.filter((node) => !node.running);
    if (down.length === 0) return this.say("Redis is already running.", "info");
    for (const node of down) {
      const outage = this.faults.find(
        (fault) => fault.ended_ms === null && fault.kind === "store-outage" && fault.target.port === node.port,
      );
      if (outage) await nemesis.endStoreOutage(outage, node, stack.instances, this.context());
      else await node.start();
    }
    this.endOpenFaults((fault) => down.some((node) => node.port === fault.target.port));
    this.mark("Redis started");
    this.say(
      stack.replicated
        ? `${down.map((node) => node.name).join(", ")} started again; the Sentinels make ${down.length > 1 ? "them replicas" : "it a replica"} of the current primary.`
        : "Redis started again, with every session its append-only log kept.",
      "good",
    );
  }

  async freezeRedis(): Promise<void> {
    const stack = this.stack as Stack;
    const target = await this.storeTarget();
    if (!target) return;
    if (this.frozen.has(target)) return this.say(`${target.name} is already frozen.`, "info");
    this.frozen.add(target);
    const store = stack.replicated ? { replicated: stack.replicated } : { redis: target };
    const fault = await nemesis
      .freezePrimary(store, stack.instances, this.context())
      .finally(() => this.frozen.delete(target));
    this.say(healSentence(this.design, fault), "info");
  }

  /** The faults left open (a stop, a kill) that a start has ended: their end is now. */
  private endOpenFaults(ended: (fault: Fault) => boolean): void {
    for (const fault of this.faults) if (fault.ended_ms === null && ended(fault)) fault.ended_ms = this.now();
  }

  async fireBurst(): Promise<void> {
    const user = this.workload?.active()[0];
    if (!user) return this.say("No user is working: nobody can fire the burst.", "info");
    const fault = nemesis.burstFault({ index: user.index, name: user.name }, this.context());
    const { uploads, view } = await user.burst();
    fault.ended_ms = this.now();
    const listed = new Set(view?.filesUploaded ?? []);
    const shown = uploads.map((upload) => ({
      filename: upload.filename ?? "",
      acknowledged: upload.outcome === "ok",
      kept:
        !hasSessionView(this.design) || view?.outcome !== "ok"
          ? null
          : upload.outcome === "ok" && listed.has(upload.fileId as string),
    }));
    const acknowledged = shown.filter((upload) => upload.acknowledged).length;
    const lost = shown.filter((upload) => upload.acknowledged && upload.kept === false).length;
    const sentence = burstSentence(this.design, acknowledged, lost, view);
    this.burst = { user: user.index, at: this.now(), uploads: shown, lost, sentence };
    this.say(sentence, lost > 0 ? "bad" : "good");
  }

  async switchDesign(design: string): Promise<void> {
    const next = design as Design;
    await this.switchTo(next, defaultStrategy(next));
  }

  async switchBalancer(strategy: string): Promise<void> {
    await this.switchTo(this.design, strategy as Strategy);
  }

  private async switchTo(design: Design, lb: Strategy): Promise<void> {
    this.say(`Switching to ${design} behind the ${lb} balancer: the cluster restarts.`, "info");
    await this.stopCluster();
    this.design = design;
    this.lb = lb;
    this.forget();
    await this.start();
  }

  /** Reset: every process running again, new users, the figures back to 0. */
  async reset(): Promise<void> {
    const stack = this.stack as Stack;
    await this.workload?.stop();
    for (const node of stack.replicated?.nodes ?? (stack.redis ? [stack.redis] : []))
      if (!node.running) await node.start();
    for (const instance of stack.instances) if (!instance.running) await instance.start();
    this.forget();
    this.startUsers();
    this.say(`Reset: every instance running, ${this.options.users} new users, every figure back to 0.`, "info");
  }

  private forget(): void {
    this.feed.forget();
    this.burst = null;
    this.faults = [];
    this.panel.clear();
  }

  private async stopCluster(): Promise<void> {
    await this.workload?.stop();
    this.workload = undefined;
    for (const node of this.frozen) node.resume(); // a freeze still under way: its process goes on, to be stopped
    this.frozen.clear();
    this.panel.close();
    await this.unwatchSentinels?.();
    this.unwatchSentinels = undefined;
    this.sentinelHeard.clear();
    await this.stack?.stop();
    this.stack = undefined;
  }

  /** Stops the users and everything the cluster started. */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.waiters.splice(0)) wake();
    await this.stopCluster();
  }

  private mark(label: string): void {
    this.feed.mark(this.now(), label);
  }

  say(text: string, tone: Narrated["tone"]): void {
    this.feed.say(this.now(), text, tone);
  }

  // -------------------------------------------------------------------------------------------
  // What the page is sent.

  /** Takes in the operations finished since the last call (four times a second). */
  observe(): void {
    const operations = this.workload?.operations;
    if (operations)
      this.feed.take(operations, this.now(), (found, sorted) =>
        explainAnomaly(this.design, found, sorted, this.faults),
      );
  }

  /** Polls the store panel (once a second is plenty). */
  async readStore(): Promise<void> {
    const stack = this.stack;
    if (!stack) return;
    const nodes = stack.replicated?.nodes ?? (stack.redis ? [stack.redis] : []);
    this.nodes = await this.panel.read(
      nodes.map((node) => ({ name: node.name, port: node.port, running: node.running, frozen: this.frozen.has(node) })),
    );
  }

  snapshot(): Snapshot {
    const stack = this.stack;
    const served = new Map((stack?.balancer?.status().backends ?? []).map((backend) => [backend.id, backend.served]));
    return {
      t: this.now(),
      design: this.design,
      designs: DESIGNS,
      lb: this.lb,
      store: isPhase1(this.design) ? "none" : this.store,
      paused: this.paused,
      busy: this.busy,
      balancerUrl: stack?.balancerUrl ?? null,
      instances: (stack?.instances ?? []).map((instance) => ({
        id: instance.serverId,
        port: instance.port,
        pid: instance.running ? (instance.pid ?? null) : null,
        state: this.transitions.get(instance.serverId) ?? (instance.running ? "up" : "down"),
        served: served.get(instance.serverId) ?? 0,
      })),
      users: this.feed.rows(this.workload, this.design, this.paused, this.now()),
      figures: { ...this.feed.live.counts, ...this.feed.totals },
      nodes: isPhase1(this.design) ? [] : this.nodes,
      burst: this.burst,
    };
  }

  /** What a page has not had yet (see LiveFeed.since). */
  since(seq: number): { lit: Lit[]; narration: Narrated[]; marks: Mark[]; seq: number } {
    return this.feed.since(seq);
  }
}

/**
 * The live view's users' names carry this tag: unique per start, so that a user registered by
 * an earlier run of the page is not met again, and random, so that nobody in the room can guess
 * a name and log in as that user ("user0-live" and 6 hex digits, then the start's number).
 */
export function classroomTag(generation: number): string {
  return `live${randomBytes(3).toString("hex")}${generation}`;
}

/** The balancer a design starts behind: sticky where sessions live in an instance's memory, so that they work until an instance dies. */
export function defaultStrategy(design: Design): Strategy {
  return stateHome(design, "sessions") === "instance" ? "sticky" : "round-robin";
}
