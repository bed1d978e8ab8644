// Rate limiting of logins and user creations (429 too_many_requests; docs/api-reference.md,
// "Rate limit"), per client address and per account name, counted in Redis so that the limit
// holds across instances: with a counter in each process, three instances behind a balancer
// would allow three times the limit.
// Operations code, not the lesson: a student reading phase 2's designs may skip this file.

import { isIP } from "node:net";
import { Cluster } from "ioredis";
import type { RequestHandler } from "express";
import { ipKeyGenerator, Options, rateLimit } from "express-rate-limit";
import { RedisReply, RedisStore } from "rate-limit-redis";
import { ApiError, StoreUnavailableError } from "../../../phase1-mockup/src/domain/errors";
import { isValidUsername } from "../../../phase1-mockup/src/domain/validation";
import type { RedisClient } from "./redis-client";

/**
 * rate-limit-redis loads its Lua script when the limiter is created and keeps the promise. At
 * that moment Redis may not be connected yet (or be down): the rejected promise would stay, and
 * every later count would fail even with Redis back. This store loads the script on first use,
 * loads it again after any failure, and reports failures as store errors (503).
 */
class RecoveringRedisStore extends RedisStore {
  private scriptLoaded = false;

  override async init(options: Parameters<RedisStore["init"]>[0]): Promise<void> {
    this.windowMs = options.windowMs; // and no script loading yet
  }

  override async increment(key: string) {
    if (!this.scriptLoaded) this.incrementScriptSha = this.loadIncrementScript();
    try {
      const result = await super.increment(key);
      this.scriptLoaded = true;
      return result;
    } catch (error) {
      this.scriptLoaded = false;
      throw new StoreUnavailableError(`Redis: could not count a login: ${(error as Error).message}`, { cause: error });
    }
  }
}

/**
 * How the store sends its commands. On a Redis Cluster, ioredis sends each EVALSHA to the node
 * that owns its key, but a SCRIPT LOAD names no key and would go to any one node: load it on
 * every primary instead, so that the EVALSHA finds it wherever its key lives.
 */
function sender(client: RedisClient) {
  if (!(client instanceof Cluster))
    return {
      sendCommand: (command: string, ...args: string[]) => client.call(command, ...args) as Promise<RedisReply>,
    };
  return {
    sendCommandCluster: async ({ command }: { command: string[] }) => {
      const [name, ...args] = command;
      if (name.toUpperCase() !== "SCRIPT") return client.call(name, ...args) as Promise<RedisReply>;
      const answers = await Promise.all(client.nodes("master").map((node) => node.call(name, ...args)));
      return answers[0] as RedisReply;
    },
  };
}

/** Logins and sign-ups a minute: per client address (RATE_LIMIT_PER_MINUTE) and per account name. */
export interface LoginLimits {
  perAddress: number;
  perAccount: number;
}

/**
 * Two limits: per client address, and per account name. The address is req.ip: behind a
 * balancer, the X-Forwarded-For that the balancer wrote (it replaces the client's own, and the
 * server trusts exactly TRUST_PROXY_HOPS proxies), so a client cannot choose it. The account's
 * limit holds whatever the address says: a classroom behind one address raises the address's
 * limit, and guessing one user's password still stays at `perAccount` tries a minute. An
 * address that is not an IP address counts as the connection's own.
 */
export function createLoginRateLimit(client: RedisClient, keyPrefix: string, limits: LoginLimits): RequestHandler[] {
  const limiter = (prefix: string, limitPerMinute: number, options: Partial<Options>) =>
    rateLimit({
      windowMs: 60_000,
      limit: limitPerMinute,
      standardHeaders: "draft-7", // RateLimit and RateLimit-Policy headers tell a client where it stands
      legacyHeaders: false,
      store: new RecoveringRedisStore({ ...sender(client), prefix: `${keyPrefix}${prefix}` }),
      handler: (req, _res, next) => {
        const resetTime = (req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
        const seconds = resetTime ? Math.max(1, Math.ceil((resetTime.getTime() - Date.now()) / 1000)) : 60;
        next(
          new ApiError(
            429,
            "too_many_requests",
            `at most ${limitPerMinute} logins and sign-ups a minute; try again in ${seconds} s`,
            { "Retry-After": String(seconds) },
          ),
        );
      },
      ...options,
    });
  const byAddress = limiter("ratelimit:", limits.perAddress, {
    keyGenerator: (req) =>
      ipKeyGenerator(isIP(req.ip ?? "") ? (req.ip as string) : (req.socket.remoteAddress ?? "unknown")),
  });
  const byAccount = limiter("ratelimit-account:", limits.perAccount, {
    // Only names that could exist: anything else is refused by validation, and never becomes a key.
    skip: (req) => !isValidUsername(req.body?.username),
    keyGenerator: (req) => String(req.body.username),
  });
  return [byAddress, byAccount];
}
