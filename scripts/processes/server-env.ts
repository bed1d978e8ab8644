// The one environment of every server that the lab, the bench and the demos start: one
// SESSION_SECRET per run, shared by every instance of that run (instances and restarts must
// agree, and a fixed secret in a repository is a public one), cheap password hashes and a
// raised rate limit, since these runs are about sessions, not hashing or abuse
// (docs/api-reference.md, "Environment variables").

import { randomBytes } from "node:crypto";
import { MASTER_NAME } from "./replicated-redis";

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
  /** The settings that close a frozen primary's window: move on +switch-master, and WAIT for a replica after every write. */
  safeReplication?: boolean;
  keyPrefix?: string;
  /** warn: the lab and the demos read the users' answers, not the servers' request logs. */
  logLevel?: string;
  /** scrypt cost as a power of two: 10 where the run logs many users in, 4 for the bench's memory part. */
  passwordHashCost?: number;
}

export function serverEnvironment(options: ServerEnvironment): Record<string, string> {
  return {
    SESSION_SECRET: options.secret,
    DATA_DIR: options.dataDir,
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...(options.sentinels ? { REDIS_SENTINELS: options.sentinels, REDIS_MASTER_NAME: MASTER_NAME } : {}),
    ...(options.clusterNodes ? { REDIS_CLUSTER_NODES: options.clusterNodes } : {}),
    ...(options.safeReplication
      ? { REDIS_FAILOVER_DETECTOR: "true", REDIS_WAIT_REPLICAS: "1", REDIS_WAIT_MS: "100" }
      : {}),
    KEY_PREFIX: options.keyPrefix ?? "lab:",
    PASSWORD_HASH_COST: String(options.passwordHashCost ?? 10),
    RATE_LIMIT_PER_MINUTE: "1000000", // many virtual users log in from one loopback address
    SESSION_TTL_SECONDS: "1800",
    LOG_LEVEL: options.logLevel ?? "warn",
  };
}
