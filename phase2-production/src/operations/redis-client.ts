// The ioredis client, configured to fail fast. With ioredis's defaults a command waits about
// 73 s while Redis is down: a student would see a hung server, not a lesson. With these
// settings a command fails at once while Redis is away, a frozen Redis fails each command after
// 1 s, and the client reconnects on its own forever (docs/transition-to-phase2.md, "The ioredis
// options, one by one"). With REDIS_SENTINELS it asks the Sentinels for the primary, with
// REDIS_CLUSTER_NODES it talks to a Redis Cluster (each key to the primary that owns its slot),
// and with REDIS_WAIT_REPLICAS an acknowledged write means that a replica has it too.
// Operations code, not the lesson: a student reading phase 2's designs may skip this file.

import Redis, { Cluster, RedisOptions } from "ioredis";
import { StoreUnavailableError } from "../../../phase1-mockup/src/domain/errors";
import type { RedisConnection } from "./config";

export interface RedisClientHooks {
  /** Called after every command with its name, its duration and whether it succeeded. */
  onCommand?: (name: string, seconds: number, ok: boolean) => void;
  onError?: (error: Error) => void;
}

/**
 * One Redis, the primary the Sentinels name, or a Cluster: the same commands on each. A
 * multi-key command (MULTI, MGET, a script) on a Cluster must name keys of one hash slot, which
 * is why atomic-session's keys of one session share a hash tag (sessions/atomic-session-routes.ts).
 */
export type RedisClient = Redis | Cluster;

export function createRedisClient(connection: string | RedisConnection, hooks: RedisClientHooks = {}): RedisClient {
  const options: RedisOptions = {
    enableOfflineQueue: false, // while disconnected, fail a command at once instead of queueing it
    // Commands already sent when the connection drops fail at once too. With 1 (the usual
    // advice) ioredis keeps them until the next reconnection, and a request hangs for up to
    // commandTimeout: the lab's store-outage scenario caught that.
    maxRetriesPerRequest: 0,
    commandTimeout: 1000, // a command with no answer within 1 s is a store error: a 503, never a 401
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000), // never give up; at most 1 s between tries
    lazyConnect: false, // connect now, in the background: the server listens even while Redis is down
    disableClientInfo: true, // no CLIENT SETINFO at connect: Redis before 7.2 refuses it, and /metrics counted an error
    enableAutoPipelining: true, // commands issued in the same tick by many requests go out in one write
  };
  const sentinels = typeof connection === "string" ? undefined : connection.sentinels;
  const clusterNodes = typeof connection === "string" ? undefined : connection.clusterNodes;
  const client: RedisClient = clusterNodes
    ? new Cluster(clusterNodes, {
        enableOfflineQueue: false,
        redisOptions: { ...options, enableAutoPipelining: undefined },
        enableAutoPipelining: true, // per node
        clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 1000), // never give up on the seed nodes
        // A node that went away comes back on the same address: reconnect to it (ioredis's default waits for a MOVED).
        clusterNodeRetryStrategy: (attempt) => Math.min(attempt * 100, 1000),
        // While the Cluster moves a slot to a promoted replica, retry briefly rather than fail at once.
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        slotsRefreshTimeout: 1000,
      })
    : typeof connection === "string" || !sentinels
      ? new Redis(typeof connection === "string" ? connection : connection.url, options)
      : new Redis({
          ...options,
          sentinels,
          name: connection.masterName,
          role: "master",
          // Never give up asking the Sentinels (ioredis's default gives up with "All sentinels are unreachable").
          sentinelRetryStrategy: (attempt) => Math.min(attempt * 100, 1000),
          // true: move to the new primary as soon as the Sentinels announce +switch-master, not
          // only when the old one fails a command (it may be frozen, or back and still accepting).
          failoverDetector: connection.failoverDetector,
          // A demoted primary answers writes with READONLY: reconnect, and ask the Sentinels again.
          reconnectOnError: (error) => error.message.startsWith("READONLY"),
        });
  // Without an error listener ioredis prints every failed reconnection as an unhandled error.
  client.on("error", (error) => hooks.onError?.(error));
  if (hooks.onCommand) {
    const onCommand = hooks.onCommand;
    const send = client.sendCommand.bind(client);
    // Timing every command here gives /metrics its Redis latency without touching the callers.
    client.sendCommand = ((command: Parameters<Redis["sendCommand"]>[0], ...rest: unknown[]) => {
      const started = process.hrtime.bigint();
      const done = (ok: boolean) => onCommand(command.name, Number(process.hrtime.bigint() - started) / 1e9, ok);
      command.promise.then(
        () => done(true),
        () => done(false),
      );
      return (send as (...args: unknown[]) => unknown)(command, ...rest);
    }) as Redis["sendCommand"];
  }
  return client;
}

/** Runs a write and, with REDIS_WAIT_REPLICAS, confirms it on replicas before it counts as done. */
export type ConfirmedWrite = <T>(write: () => Promise<T>) => Promise<T>;

/**
 * After a write: WAIT until `replicas` replicas have it, on the same connection (WAIT counts
 * the writes of its own connection; on a new one it would confirm nothing, so a reconnection
 * between the write and its WAIT is a failure, noticed by counting connections from before the
 * write). Fewer replicas than asked is a store error, a 503, never an acknowledgement. With 0
 * replicas, just the write.
 */
export function replicaConfirmation(client: RedisClient, replicas: number, timeoutMs: number): ConfirmedWrite {
  if (replicas === 0) return (write) => write();
  let connections = 0;
  client.on("connect", () => (connections += 1));
  return async (write) => {
    const before = connections;
    const result = await write();
    await guardRedis("confirm the write on a replica", async () => {
      const confirmed = Number(await client.call("WAIT", replicas, timeoutMs));
      if (connections !== before) throw new Error("the connection changed between the write and its WAIT");
      if (confirmed < replicas)
        throw new Error(`${confirmed} of ${replicas} replica(s) confirmed the write within ${timeoutMs} ms`);
    });
    return result;
  };
}

/** True while the client has a working connection. */
export function isRedisReady(client: RedisClient): boolean {
  return client.status === "ready";
}

/** Why Redis cannot serve right now, or undefined when a PING is answered within `timeoutMs`. */
export async function redisNotReadyReason(client: RedisClient, timeoutMs = 500): Promise<string | undefined> {
  if (client instanceof Cluster && !isRedisReady(client))
    return `Redis is not connected (${client.status}): waiting for the Redis Cluster to answer, with every slot covered`;
  const sentinels = client instanceof Cluster ? undefined : client.options.sentinels;
  if (!(client instanceof Cluster) && !isRedisReady(client) && sentinels?.length) {
    const list = sentinels.map((sentinel) => `${sentinel.host}:${sentinel.port}`).join(",");
    return `Redis is not connected (${client.status}): waiting for the Sentinels at ${list} to name the primary of "${client.options.name}"`;
  }
  if (!isRedisReady(client)) return `Redis is not connected (${client.status})`;
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer to PING within ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([client.ping(), timeout]);
    return undefined;
  } catch (error) {
    return `Redis does not answer: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one Redis operation; any failure becomes a StoreUnavailableError (a 503, never a 401). */
export async function guardRedis<T>(action: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(`Redis: could not ${action}: ${(error as Error).message}`, { cause: error });
  }
}
