// The one environment of every server that the lab, the bench and the demos start: one
// SESSION_SECRET per run, shared by every instance of that run (instances and restarts must
// agree, and a fixed secret in a repository is a public one), cheap password hashes and a
// raised rate limit per address, since these runs are about sessions, not hashing or abuse, and
// every virtual user comes from one loopback address (docs/api-reference.md, "Environment
// variables"). A classroom stack keeps the per-account limit at its default: a student at the
// projected live view still cannot guess a virtual user's password faster than anyone else.

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
  /** Phase 2's PostgreSQL database (users and files), migrated. */
  databaseUrl?: string;
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
  /** A balancer stands in front: the servers believe the X-Forwarded-For it writes (TRUST_PROXY_HOPS=1), and no further. */
  behindBalancer?: boolean;
  /**
   * A stack a class works with (the cluster, the live view, the demos): the per-account login
   * limit stays at its default. The lab and the bench raise it too: a design that forgets
   * sessions makes its users log in again on nearly every request, and those runs measure that.
   */
  classroom?: boolean;
}

export function serverEnvironment(options: ServerEnvironment): Record<string, string> {
  const safe = options.safeReplication === true ? SAFE_SETTINGS : options.safeReplication || [];
  return {
    SESSION_SECRET: options.secret,
    DATA_DIR: options.dataDir,
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...(options.sentinels ? { REDIS_SENTINELS: options.sentinels, REDIS_MASTER_NAME: MASTER_NAME } : {}),
    ...(options.clusterNodes ? { REDIS_CLUSTER_NODES: options.clusterNodes } : {}),
    ...(safe.includes("detector") ? { REDIS_FAILOVER_DETECTOR: "true" } : {}),
    ...(safe.includes("wait") ? { REDIS_WAIT_REPLICAS: "1", REDIS_WAIT_MS: "100" } : {}),
    KEY_PREFIX: options.keyPrefix ?? "lab:",
    PASSWORD_HASH_COST: String(options.passwordHashCost ?? 10),
    RATE_LIMIT_PER_MINUTE: "1000000", // many virtual users log in from one loopback address
    ...(options.classroom ? {} : { RATE_LIMIT_PER_ACCOUNT_PER_MINUTE: "1000000" }),
    TRUST_PROXY_HOPS: options.behindBalancer ? "1" : "0",
    SESSION_TTL_SECONDS: "1800",
    LOG_LEVEL: options.logLevel ?? "warn",
  };
}
