// Replicated Redis, as production runs it: one primary, two replicas, and three Sentinels that
// watch the primary and promote a replica when it stops answering (quorum 2,
// down-after-milliseconds 1000). Six processes, each with the lifecycle of every other, each on
// its own loopback port and in its own folder (Sentinel rewrites its configuration file). The
// lab's store-failover, store-freeze and store-freeze-safe scenarios break it
// (docs/how-the-lab-works.md, "The scenarios").

import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import Redis from "ioredis";
import { Command, Part, randomPort, sleep } from "./managed-process";
import { findRedisServer, REDIS_MISSING_MESSAGE, RedisGroup, RedisServer } from "./redis";

export const MASTER_NAME = "lab";
/** A primary silent this long is subjectively down for a Sentinel (its down-after-milliseconds). */
export const DOWN_AFTER_MS = 1000;
const SETTLE_TIMEOUT_MS = 20_000;

/** One command to one node, on a connection of its own that gives up quickly (a frozen node never answers). */
export async function ask(port: number, ...args: Array<string | number>): Promise<unknown> {
  const client = new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: true,
    connectTimeout: 500,
    commandTimeout: 500,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on("error", () => undefined); // a node that is down is an answer here, not a crash
  try {
    await client.connect();
    return await client.call(String(args[0]), ...args.slice(1));
  } finally {
    client.disconnect();
  }
}

/** What a Sentinel is told at start, so that it need not discover it (hello messages come every 2 s). */
interface SentinelView {
  primaryPort: number;
  replicaPorts: number[];
  /** The other two Sentinels: port and id. */
  peers: Array<{ port: number; myid: string }>;
}

/**
 * Starts them all and waits for every one, even when one fails: a stop that came while a
 * sibling was still starting would miss it, and leave it running.
 */
async function allStarted(servers: RedisServer[]): Promise<void> {
  const outcomes = await Promise.allSettled(servers.map((server) => server.start()));
  const failed = outcomes.find((outcome) => outcome.status === "rejected");
  if (failed) throw failed.reason;
}

/** SENTINEL replicas/sentinels answer a list of flat [name, value, name, value, ...] arrays. */
function fieldsOf(answer: unknown): Array<Record<string, string>> {
  if (!Array.isArray(answer)) return [];
  return answer.map((entry: string[]) =>
    Object.fromEntries(entry.flatMap((value, i) => (i % 2 ? [] : [[value, entry[i + 1]]]))),
  );
}

/** A Sentinel: `redis-server <conf> --sentinel`, with a configuration of its own that it may rewrite. */
class SentinelServer extends RedisServer {
  readonly myid = randomBytes(20).toString("hex");

  constructor(
    dir: string,
    name: string,
    private readonly view: () => SentinelView,
  ) {
    super(dir, false, name);
  }

  protected override command(port: number): Command {
    const binary = findRedisServer();
    if (!binary) throw new Error(REDIS_MISSING_MESSAGE);
    const conf = path.join(this.dir, "sentinel.conf");
    const { primaryPort, replicaPorts, peers } = this.view();
    writeFileSync(
      conf,
      [
        `port ${port}`,
        "bind 127.0.0.1",
        `dir ${this.dir}`,
        `sentinel myid ${this.myid}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primaryPort} 2`, // quorum 2 of 3
        `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
        `sentinel failover-timeout ${MASTER_NAME} 4000`,
        // Known from the start: the cell begins in a few hundred milliseconds, not after the
        // Sentinels have found each other through the primary (a hello every 2 s).
        ...replicaPorts.map((replica) => `sentinel known-replica ${MASTER_NAME} 127.0.0.1 ${replica}`),
        ...peers.map((peer) => `sentinel known-sentinel ${MASTER_NAME} 127.0.0.1 ${peer.port} ${peer.myid}`),
        "",
      ].join("\n"),
    );
    return { file: binary, args: [conf, "--sentinel"] };
  }
}

export interface ReplicatedOptions {
  /** The folder of the cell or stack: each node gets a folder of its own in it. */
  dir: string;
  /** The safe settings: a primary refuses writes without a replica that acknowledged within 2 s. */
  safe?: boolean;
}

/** One primary, two replicas and three Sentinels, started together and stopped together. */
export class ReplicatedRedis extends RedisGroup {
  readonly name = "replicated-redis";
  readonly sentinels: SentinelServer[] = [];

  /** With the safe settings, a frozen primary that wakes refuses writes: it has none to lose. */
  get safe(): boolean {
    return this.options.safe === true;
  }

  constructor(private readonly options: ReplicatedOptions) {
    super();
  }

  protected override members(): Part[] {
    return [...this.nodes, ...this.sentinels];
  }

  /** REDIS_SENTINELS for the servers. */
  get sentinelList(): string {
    return this.sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(",");
  }

  private folder(name: string): string {
    const dir = path.join(this.options.dir, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  async start(): Promise<void> {
    // repl-diskless-sync-delay is 5 s by default: replicas would wait 5 s for their first sync.
    const replication = [
      "--repl-diskless-sync-delay",
      "0",
      ...(this.options.safe ? ["--min-replicas-to-write", "1", "--min-replicas-max-lag", "2"] : []),
    ];
    const primary = new RedisServer(this.folder("redis-1"), false, "redis-1", replication);
    this.nodes.push(primary);
    await primary.start();
    for (const name of ["redis-2", "redis-3"])
      this.nodes.push(
        new RedisServer(this.folder(name), false, name, [
          ...replication,
          "--replicaof",
          "127.0.0.1",
          String(primary.port),
        ]),
      );
    await allStarted(this.nodes.slice(1));
    const view = (self: SentinelServer): SentinelView => ({
      primaryPort: primary.port,
      replicaPorts: this.nodes.slice(1).map((replica) => replica.port),
      peers: this.sentinels
        .filter((sentinel) => sentinel !== self)
        .map((sentinel) => ({ port: sentinel.port, myid: sentinel.myid })),
    });
    for (const name of ["sentinel-1", "sentinel-2", "sentinel-3"]) {
      const sentinel: SentinelServer = new SentinelServer(this.folder(name), name, () => view(sentinel));
      // Their ports are chosen before any starts, so that each can be told the others'.
      do sentinel.port = randomPort();
      while (
        this.sentinels.some((other) => other.port === sentinel.port) ||
        this.nodes.some((node) => node.port === sentinel.port)
      );
      this.sentinels.push(sentinel);
    }
    await allStarted(this.sentinels);
    await this.settled();
  }

  /**
   * Waits until every Sentinel names one primary, that primary has both replicas connected, and
   * every Sentinel knows both replicas and the other two Sentinels. Not necessarily the node
   * started as the primary: on a busy machine a Sentinel may find it silent for 1 s and fail
   * over before the cell begins, and that is a healthy set too.
   */
  private async settled(): Promise<void> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    let waitingFor = "the Sentinels to agree on a primary";
    while (Date.now() < deadline) {
      const primary = await this.agreedPrimary();
      const role = primary ? ((await ask(primary.port, "ROLE").catch(() => null)) as unknown[] | null) : null;
      if (!primary) waitingFor = "the Sentinels to agree on a primary";
      else if (role?.[0] !== "master" || !Array.isArray(role[2]) || role[2].length !== 2)
        waitingFor = `both replicas to connect to the primary ${primary.port} (ROLE: ${JSON.stringify(role)})`;
      else {
        const known = await Promise.all(
          this.sentinels.map(async (sentinel) => {
            const replicas = fieldsOf(await ask(sentinel.port, "SENTINEL", "replicas", MASTER_NAME).catch(() => []));
            const others = fieldsOf(await ask(sentinel.port, "SENTINEL", "sentinels", MASTER_NAME).catch(() => []));
            // Connected to both replicas, which report their link to the primary up: before that,
            // a failover takes a second longer. (The Sentinels connect to each other meanwhile.)
            const replicasSeen =
              replicas.length === 2 &&
              replicas.every((replica) => replica.flags === "slave" && replica["master-link-status"] === "ok");
            return replicasSeen && others.length === 2;
          }),
        );
        if (known.every(Boolean)) return;
        waitingFor = "every Sentinel to be connected to both replicas, and to know the other two Sentinels";
      }
      await sleep(100);
    }
    throw new NotSettledError(
      `the replicated Redis did not settle within ${SETTLE_TIMEOUT_MS / 1000} s, waiting for ${waitingFor} (see the logs in ${this.options.dir})`,
    );
  }

  /**
   * Waits (at most 3 s) until every Sentinel is connected to the other two. They are by the time
   * the users have worked a little; a fault before that would make the failover slower than it
   * is, since the votes travel over those connections.
   */
  async sentinelsConnected(): Promise<void> {
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      const connected = await Promise.all(
        this.sentinels.map(async (sentinel) => {
          const others = fieldsOf(await ask(sentinel.port, "SENTINEL", "sentinels", MASTER_NAME).catch(() => []));
          return others.length === 2 && others.every((other) => !other.flags?.includes("disconnected"));
        }),
      );
      if (connected.every(Boolean)) return;
      await sleep(50);
    }
  }

  /** The node every Sentinel names as the primary, or undefined while they disagree or cannot tell. */
  async agreedPrimary(): Promise<RedisServer | undefined> {
    const named = await Promise.all(
      this.sentinels
        .filter((sentinel) => sentinel.running)
        .map((sentinel) => ask(sentinel.port, "SENTINEL", "get-master-addr-by-name", MASTER_NAME).catch(() => null)),
    );
    const ports = new Set(named.map((answer) => (Array.isArray(answer) ? Number(answer[1]) : NaN)));
    if (ports.size !== 1) return undefined;
    const [port] = ports;
    return this.nodes.find((node) => node.port === port);
  }

  /**
   * Waits (at most `timeoutMs`) until no Sentinel has a failover under way: with
   * down-after-milliseconds 1000 a second, spurious failover can follow the first, and a fault
   * struck during it would be blamed for what that failover did. Resolves whether it settled.
   */
  async failoverSettled(timeoutMs = 15_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const flags = await Promise.all(
        this.sentinels
          .filter((sentinel) => sentinel.running)
          .map(async (sentinel) => {
            const answer = await ask(sentinel.port, "SENTINEL", "master", MASTER_NAME).catch(() => null);
            return Array.isArray(answer) ? (fieldsOf([answer])[0]?.flags ?? "") : "unknown";
          }),
      );
      if (flags.every((each) => each === "master") && (await this.agreedPrimary())) return true;
      await sleep(100);
    }
    return false;
  }

  /**
   * Waits (at most `timeoutMs`) until both replicas have acknowledged everything the primary
   * has written so far (their offsets reach the primary's): replication is asynchronous, and a
   * write acknowledged a moment before a SIGKILL may not have left the primary yet.
   */
  async replicasCaughtUp(timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const primary = await this.agreedPrimary();
      const info = primary ? String(await ask(primary.port, "INFO", "replication").catch(() => "")) : "";
      const target = Number(/master_repl_offset:(\d+)/.exec(info)?.[1] ?? NaN);
      const offsets = [...info.matchAll(/^slave\d+:.*offset=(\d+)/gm)].map((match) => Number(match[1]));
      if (offsets.length === 2 && offsets.every((offset) => offset >= target)) return true;
      await sleep(20);
    }
    return false;
  }

  /** Waits until every Sentinel names a primary other than `old` and that node says it is the master. */
  async waitForNewPrimary(old: RedisServer, timeoutMs = 30_000): Promise<RedisServer> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const primary = await this.agreedPrimary();
      if (primary && primary !== old) {
        const role = (await ask(primary.port, "ROLE").catch(() => null)) as unknown[] | null;
        if (role?.[0] === "master") return primary;
      }
      await sleep(50);
    }
    throw new Error(`the Sentinels did not agree on a new primary within ${timeoutMs / 1000} s`);
  }

  /** Sentinels first (so that they do not fail over while the data nodes go), then the data nodes. */
  async end(): Promise<void> {
    await Promise.all(this.sentinels.map((sentinel) => sentinel.end()));
    await Promise.all(this.nodes.map((node) => node.end()));
  }
}

/** Six processes that started but did not come together as one healthy set. */
class NotSettledError extends Error {}

/** Starts a replicated Redis in `dir`. */
export async function startReplicatedRedis(options: ReplicatedOptions): Promise<ReplicatedRedis> {
  for (let attempt = 1; ; attempt += 1) {
    const replicated = new ReplicatedRedis(
      attempt === 1 ? options : { ...options, dir: path.join(options.dir, `attempt-${attempt}`) },
    );
    try {
      await replicated.start();
      return replicated;
    } catch (error) {
      await replicated.end();
      // A set that never settled is started once more, from scratch, in a folder of its own. On
      // a starved machine the Sentinels can fail over during the start (a primary silent for
      // 1 s is down) and, once, left the new primary set to replicate from itself
      // (ROLE: slave of its own port): a state that a fresh start does not inherit.
      if (attempt >= 2 || !(error instanceof NotSettledError)) throw error;
    }
  }
}

/**
 * One event a Sentinel published: `type` is its channel (`+sdown`, `+odown`, `+elected-leader`,
 * `+switch-master`, `+convert-to-slave`, ...), `detail` the message as sent (which instance, and
 * its primary: `master lab 127.0.0.1 6379`), `at` the time it arrived (Date.now()).
 */
export interface SentinelEvent {
  /** The Sentinel that published it (sentinel-1 to sentinel-3): each Sentinel announces what it saw itself. */
  sentinel: string;
  type: string;
  detail: string;
  at: number;
}

/**
 * Listens to every Sentinel's own announcements (`PSUBSCRIBE *` on each: a Sentinel publishes
 * each step of its view of the primary on a channel named after the step), and hands each to
 * `onEvent` as it arrives. Resolves once all three are subscribed, so that nothing a fault
 * causes afterwards is missed; the function it resolves to unsubscribes and closes the
 * connections. The same event usually comes from each Sentinel that saw it: `sentinel` says
 * which, and the caller decides whether to count it once.
 */
export async function watchSentinelEvents(
  replicated: ReplicatedRedis,
  onEvent: (event: SentinelEvent) => void,
): Promise<() => Promise<void>> {
  const clients = replicated.sentinels.map((sentinel) => {
    const client = new Redis({
      host: "127.0.0.1",
      port: sentinel.port,
      lazyConnect: true,
      connectTimeout: 1000,
      // A Sentinel killed on purpose (the quorum exercise) comes back on the same port: keep trying, and resubscribe.
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    });
    client.on("error", () => undefined); // a Sentinel that is down is part of the story, not a crash
    client.on("pmessage", (_pattern: string, channel: string, message: string) =>
      onEvent({ sentinel: sentinel.name, type: channel, detail: message, at: Date.now() }),
    );
    return client;
  });
  // Closed at once, not with QUIT: that would wait for a Sentinel that may be gone.
  const close = async () => {
    for (const client of clients) client.disconnect();
  };
  try {
    await Promise.all(
      clients.map(async (client) => {
        await client.connect();
        await client.psubscribe("*");
      }),
    );
  } catch (error) {
    await close();
    throw error;
  }
  return close;
}
