// The live classroom view's model (LAB-SPEC section 9): the cluster `npm run cluster` starts
// (3 instances, Redis or replicated Redis, the built-in balancer), a few virtual users at a
// pace a class can follow, the controls a presenter clicks, and what the page is sent: each
// request as it is served, each user's session, the checker's running figures, the store, and
// one plain sentence for each event that matters (docs/instructor-guide.md, "The 10-minute
// demo"). The users are the lab's own (scripts/workbench/workload.ts), slowed down.

import { Design, DESIGNS, hasSessionView, isPhase1, probesSpareLogin, sessionHome } from "../designs";
import { startStack, Stack } from "../processes/stack";
import { Workload } from "../workbench/workload";
import { Strategy } from "../processes/builtin-balancer";
import { sleep } from "../processes/managed-process";
import { RedisServer } from "../processes/redis";
import { LiveFeed, Lit, Mark, Narrated, UserRow } from "./live-feed";
import { Rule } from "./live-check";
import { burstSentence, downSentence, explainAnomaly, Faults, homeSentence } from "./narrator";
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

const FREEZE_MS = 5000;

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
  /** The last fault done to each instance, and to Redis: the reason a session broke. */
  private faults: Faults = new Map();
  private frozen = new Set<RedisServer>();
  private resumeTimers = new Set<NodeJS.Timeout>();
  private waiters: Array<() => void> = [];
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

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
    this.stack = await startStack({ design: this.design, instances: 3, balancer: this.lb, store });
    this.startUsers();
    this.say(
      `${this.design}: 3 instances behind the ${this.lb} balancer${isPhase1(this.design) ? "" : store === "sentinel" ? ", on replicated Redis (a primary, two replicas, three Sentinels)" : ", on one Redis"}. ${homeSentence(this.design)}`,
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
      // Unique per start, so that a user registered by an earlier run of the page is not met again.
      tag: `live${(this.started % 100_000).toString(36)}${this.generation}`,
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

  private gate(): Promise<void> {
    return this.paused && !this.closed ? new Promise((resolve) => this.waiters.push(resolve)) : Promise.resolve();
  }

  /** The actions a POST can ask for, each checked before it is queued. */
  static readonly ACTIONS = [
    "kill",
    "stop",
    "start",
    "rolling-deploy",
    "redis-restart",
    "redis-stop",
    "redis-start",
    "redis-freeze",
    "design",
    "balancer",
    "burst",
    "pause",
    "resume",
    "reset",
  ] as const;

  /**
   * Checks an action and queues it: actions run one at a time, in the order asked. Resolves
   * with an error message (the POST answers 400 or 409) or undefined once it is queued.
   */
  request(
    action: (typeof Classroom.ACTIONS)[number],
    body: Record<string, unknown>,
  ): { status: number; error: string; message: string } | undefined {
    const stack = this.stack;
    if (!stack || this.closed) return { status: 409, error: "not_running", message: "the cluster is not running" };
    const instance =
      typeof body.instance === "string"
        ? stack.instances.find((candidate) => candidate.serverId === body.instance)
        : undefined;
    if ((action === "kill" || action === "stop" || action === "start") && !instance) {
      return {
        status: 400,
        error: "unknown_instance",
        message: `"instance" must be one of ${stack.instances.map((candidate) => candidate.serverId).join(", ")}`,
      };
    }
    if (action.startsWith("redis-") && isPhase1(this.design))
      return {
        status: 409,
        error: "no_store",
        message: `${this.design} keeps no data in Redis: there is no store to act on`,
      };
    if (action === "design" && !DESIGNS.includes(body.design as Design))
      return { status: 400, error: "unknown_design", message: `"design" must be one of ${DESIGNS.join(", ")}` };
    if (action === "balancer" && body.strategy !== "round-robin" && body.strategy !== "sticky")
      return { status: 400, error: "unknown_strategy", message: `"strategy" must be round-robin or sticky` };
    if (action === "pause") return void this.setPaused(true);
    if (action === "resume") return void this.setPaused(false);
    this.queue = this.queue
      .then(() => this.run(action, body, instance?.serverId))
      .catch((error: Error) => this.say(`${action} failed: ${error.message}`, "bad"));
    return undefined;
  }

  private setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    this.mark(paused ? "paused" : "resumed");
    this.say(
      paused ? "The users are paused: each finishes what it was doing, then waits." : "The users go on.",
      "info",
    );
    if (!paused) for (const wake of this.waiters.splice(0)) wake();
  }

  private async run(
    action: (typeof Classroom.ACTIONS)[number],
    body: Record<string, unknown>,
    instanceId?: string,
  ): Promise<void> {
    const stack = this.stack;
    if (!stack || this.closed) return;
    const instance = stack.instances.find((candidate) => candidate.serverId === instanceId);
    this.busy = action;
    try {
      switch (action) {
        case "kill":
        case "stop":
          if (!instance?.running) return this.say(`${instanceId} is not running.`, "info");
          this.transitions.set(instance.serverId, "stopping");
          await (action === "kill" ? instance.kill() : instance.stop());
          this.transitions.delete(instance.serverId);
          this.fault(
            instance.serverId,
            action === "kill" ? "was killed" : "was stopped",
            action === "kill" ? `SIGKILL ${instance.serverId}` : `SIGTERM ${instance.serverId}`,
          );
          this.say(downSentence(this.design, instance.serverId, action), "fault");
          return;
        case "start":
          if (!instance || instance.running) return this.say(`${instanceId} is already running.`, "info");
          this.transitions.set(instance.serverId, "starting");
          await instance.start();
          this.transitions.delete(instance.serverId);
          this.mark(`start ${instance.serverId}`);
          this.say(
            `${instance.serverId} started again on port ${instance.port}${sessionHome(this.design) === "memory" ? ", with empty memory" : ""}; the balancer sends it requests again.`,
            "good",
          );
          return;
        case "rolling-deploy":
          this.mark("rolling deploy");
          this.say(
            "A rolling deploy: each instance in turn is stopped (SIGTERM), started again, and waited for (/ready).",
            "fault",
          );
          for (const each of stack.instances) {
            this.transitions.set(each.serverId, "stopping");
            await each.stop();
            this.fault(each.serverId, "was restarted by the rolling deploy");
            this.transitions.set(each.serverId, "starting");
            await each.start();
            this.transitions.delete(each.serverId);
          }
          this.say(
            `The rolling deploy is done: every instance was restarted once${sessionHome(this.design) === "memory" ? ", and every session made before it is gone" : ""}.`,
            "info",
          );
          return;
        case "redis-restart":
        case "redis-stop":
        case "redis-start":
        case "redis-freeze":
          return await this.storeAction(action);
        case "design":
        case "balancer":
          return await this.switchTo(
            action === "design" ? (body.design as Design) : this.design,
            action === "balancer"
              ? (body.strategy as Strategy)
              : action === "design"
                ? defaultStrategy(body.design as Design)
                : this.lb,
          );
        case "burst":
          return await this.fireBurst();
        case "reset":
          return await this.reset();
      }
    } finally {
      this.busy = null;
    }
  }

  /** The store's controls: on replicated Redis each acts on the primary the Sentinels name. */
  private async storeAction(action: "redis-restart" | "redis-stop" | "redis-start" | "redis-freeze"): Promise<void> {
    const stack = this.stack as Stack;
    const replicated = stack.replicated;
    const nodes = replicated ? replicated.nodes : stack.redis ? [stack.redis] : [];
    if (action === "redis-start") {
      const down = nodes.filter((node) => !node.running);
      if (down.length === 0) return this.say("Redis is already running.", "info");
      for (const node of down) await node.start();
      this.mark("Redis started");
      this.say(
        replicated
          ? `${down.map((node) => node.name).join(", ")} started again; the Sentinels make ${down.length > 1 ? "them replicas" : "it a replica"} of the current primary.`
          : "Redis started again, empty: it had no append-only log.",
        "good",
      );
      return;
    }
    const target = replicated ? await replicated.agreedPrimary() : stack.redis;
    if (!target || !target.running)
      return this.say(
        replicated
          ? "The Sentinels do not agree on a primary yet: try again in a moment."
          : "Redis is not running: start it first.",
        "info",
      );
    const name = replicated ? `The Redis primary (${target.name})` : "Redis"; // each sentence opens with it
    if (action === "redis-freeze") {
      if (this.frozen.has(target)) return this.say(`${name} is already frozen.`, "info");
      target.freeze();
      this.frozen.add(target);
      this.fault("redis", "was frozen");
      this.say(
        `${name} is frozen (SIGSTOP) for ${FREEZE_MS / 1000} s: its connections stay open and nothing answers.${replicated ? " After 1 s the Sentinels call it down and promote a replica; what it acknowledged since its replicas last copied it is lost." : " Each request waits for its Redis command timeout, then gets 503 store_unavailable."}`,
        "fault",
      );
      const timer = setTimeout(() => {
        this.resumeTimers.delete(timer);
        target.resume();
        this.frozen.delete(target);
        this.mark("Redis resumed");
        this.say(
          `${name} goes on (SIGCONT)${replicated ? ", still believing it is the primary until a Sentinel tells it otherwise" : ""}.`,
          "info",
        );
      }, FREEZE_MS);
      this.resumeTimers.add(timer);
      return;
    }
    if (action === "redis-stop") {
      await target.stop();
      this.fault("redis", "was stopped");
      this.say(
        replicated
          ? `${name} was stopped (SIGTERM). The Sentinels promote a replica within about 2 s; until then requests get 503 store_unavailable.`
          : "Redis was stopped (SIGTERM) and stays down: each request gets 503 store_unavailable at once, never a hang. Start it again with the button.",
        "fault",
      );
      return;
    }
    // redis-restart: a single Redis comes back empty (no append-only log); on replicated Redis the
    // primary is killed, a replica promoted, and the old primary rejoins as a replica.
    if (replicated) {
      await target.kill();
      this.fault("redis", "was killed");
      this.say(
        `${name} was killed (SIGKILL); the Sentinels promote a replica, which has every write it was sent.`,
        "fault",
      );
      const next = await replicated.waitForNewPrimary(target);
      await target.start();
      this.say(`${next.name} is the primary now; ${target.name} came back as its replica.`, "good");
    } else {
      await target.stop();
      await target.start();
      this.fault("redis", "restarted empty");
      this.say(
        `Redis restarted (SIGTERM, then start) with no append-only log: it came back empty. Every session, account and file it held is gone${probesSpareLogin(this.design) ? ", and so is the deny-list of logged-out tokens" : ""}.`,
        "fault",
      );
    }
    if (probesSpareLogin(this.design)) {
      await sleep(500);
      await this.workload?.probeSpareLogins();
    }
  }

  private async fireBurst(): Promise<void> {
    const user = this.workload?.active()[0];
    if (!user) return this.say("No user is working: nobody can fire the burst.", "info");
    this.mark(`burst, user ${user.index}`);
    this.say(
      `User ${user.index} fires ten uploads at once, each on its own connection, then reads its session view.`,
      "info",
    );
    const { uploads, view } = await user.burst();
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

  private async switchTo(design: Design, lb: Strategy): Promise<void> {
    this.mark(`switch to ${design}, ${lb}`);
    this.say(`Switching to ${design} behind the ${lb} balancer: the cluster restarts.`, "info");
    await this.stopCluster();
    this.design = design;
    this.lb = lb;
    this.forget();
    await this.start();
  }

  /** Reset: every process running again, new users, the figures back to 0. */
  private async reset(): Promise<void> {
    const stack = this.stack as Stack;
    await this.workload?.stop();
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
    for (const node of this.frozen) node.resume();
    this.frozen.clear();
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
    this.faults.clear();
    this.panel.clear();
  }

  private async stopCluster(): Promise<void> {
    await this.workload?.stop();
    this.workload = undefined;
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
    this.frozen.clear();
    this.panel.close();
    await this.stack?.stop();
    this.stack = undefined;
  }

  /** Stops the users and everything the cluster started. */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.waiters.splice(0)) wake();
    await this.stopCluster();
  }

  private fault(target: string, what: string, label = `${target} ${what}`): void {
    this.faults.set(target, { what, at: this.now() });
    this.mark(label);
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

/** The balancer a design starts behind: sticky where sessions live in an instance's memory, so that they work until an instance dies. */
export function defaultStrategy(design: Design): Strategy {
  return sessionHome(design) === "memory" ? "sticky" : "round-robin";
}
