// The ioredis client, configured to fail fast. With ioredis's defaults a command waits about
// 73 s while Redis is down: a student would see a hung server, not a lesson. With these
// settings a command fails at once while Redis is away, a frozen Redis fails each command after
// 1 s, and the client reconnects on its own forever (docs/transition-to-phase2.md, "The ioredis
// options, one by one").

import Redis from "ioredis";
import { StoreUnavailableError } from "../../phase1-mockup/src/domain/errors";

export interface RedisClientHooks {
  /** Called after every command with its name, its duration and whether it succeeded. */
  onCommand?: (name: string, seconds: number, ok: boolean) => void;
  onError?: (error: Error) => void;
}

export function createRedisClient(url: string, hooks: RedisClientHooks = {}): Redis {
  const client = new Redis(url, {
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
  });
  // Without an error listener ioredis prints every failed reconnection as an unhandled error.
  client.on("error", (error) => hooks.onError?.(error));
  if (hooks.onCommand) {
    const onCommand = hooks.onCommand;
    const send = client.sendCommand.bind(client);
    // Timing every command here gives /metrics its Redis latency without touching the callers.
    client.sendCommand = ((command: Parameters<Redis["sendCommand"]>[0], stream?: Parameters<Redis["sendCommand"]>[1]) => {
      const started = process.hrtime.bigint();
      const done = (ok: boolean) => onCommand(command.name, Number(process.hrtime.bigint() - started) / 1e9, ok);
      command.promise.then(
        () => done(true),
        () => done(false),
      );
      return send(command, stream);
    }) as Redis["sendCommand"];
  }
  return client;
}

/** True while the client has a working connection. */
export function isRedisReady(client: Redis): boolean {
  return client.status === "ready";
}

/** Why Redis cannot serve right now, or undefined when a PING is answered within `timeoutMs`. */
export async function redisNotReadyReason(client: Redis, timeoutMs = 500): Promise<string | undefined> {
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
