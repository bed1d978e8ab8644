// The one environment of every server that the lab, the bench and the demos start: one
// SESSION_SECRET per run, shared by every instance of that run (instances and restarts must
// agree, and a fixed secret in a repository is a public one), cheap password hashes and a
// raised rate limit, since these runs are about sessions, not hashing or abuse
// (docs/api-reference.md, "Environment variables").

import { randomBytes } from "node:crypto";
import { MASTER_NAME } from "./replicated-redis";

/**
 * The three settings that close a frozen primary's window (docs/labs/07-replication-is-not-durability.md),
 * each of which a run can apply alone: `detector`, the servers move to the new primary as soon
 * as the Sentinels announce it (REDIS_FAILOVER_DETECTOR); `wait`, every acknowledged write waits
 * for one replica (REDIS_WAIT_REPLICAS=1); `min-replicas`, the data nodes refuse writes without a
 * replica in sync (min-replicas-to-write 1, min-replicas-max-lag 2: replicated-redis.ts's `safe`).
 */
export const SAFE_SETTINGS = ["detector", "wait", "min-replicas"] as const;
export type SafeSetting = (typeof SAFE_SETTINGS)[number];

/** A fresh secret for one run: 64 hex characters (HS256 keys need at least 32, RFC 7518 section 3.2). */
export function runSecret(): string {
  return randomBytes(32).toString("hex");
}

export interface ServerEnvironment {
  /** The run's secret (runSecret()), the same for every instance of the run. */
  secret: string;
  /** Phase 1's data folder. */
  dataDir: string;
  /** Phase 2's Redis, where there is one. */
  redisUrl?: string;
  /** Replicated Redis: the Sentinels' addresses (then REDIS_URL is not used). */
  sentinels?: string;
  /** A Redis Cluster: its nodes' addresses (then REDIS_URL is not used). */
  clusterNodes?: string;
  /**
   * The servers' part of the safe settings (`detector`, `wait`; `min-replicas` is the data
   * nodes'): true for both, or a list of those to apply.
   */
  safeReplication?: boolean | readonly SafeSetting[];
  keyPrefix?: string;
  /** warn: the lab and the demos read the users' answers, not the servers' request logs. */
  logLevel?: string;
  /** scrypt cost as a power of two: 10 where the run logs many users in, 4 for the bench's memory part. */
  passwordHashCost?: number;
}

export function serverEnvironment(options: ServerEnvironment): Record<string, string> {
  const safe = options.safeReplication === true ? SAFE_SETTINGS : options.safeReplication || [];
  return {
    SESSION_SECRET: options.secret,
    DATA_DIR: options.dataDir,
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...(options.sentinels ? { REDIS_SENTINELS: options.sentinels, REDIS_MASTER_NAME: MASTER_NAME } : {}),
    ...(options.clusterNodes ? { REDIS_CLUSTER_NODES: options.clusterNodes } : {}),
    ...(safe.includes("detector") ? { REDIS_FAILOVER_DETECTOR: "true" } : {}),
    ...(safe.includes("wait") ? { REDIS_WAIT_REPLICAS: "1", REDIS_WAIT_MS: "100" } : {}),
    KEY_PREFIX: options.keyPrefix ?? "lab:",
    PASSWORD_HASH_COST: String(options.passwordHashCost ?? 10),
    RATE_LIMIT_PER_MINUTE: "1000000", // many virtual users log in from one loopback address
    SESSION_TTL_SECONDS: "1800",
    LOG_LEVEL: options.logLevel ?? "warn",
  };
}
