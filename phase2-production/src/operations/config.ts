// Phase 2's configuration: phase 1's variables plus Redis (one, replicated behind Sentinel, or a Cluster),
// PostgreSQL (DATABASE_URL), the key prefix, the rate limit and the cookie's Secure flag
// (docs/api-reference.md, "Environment variables"), and the design to run, from `--design D`.
// Operations code, not the lesson: a student reading phase 2's designs may skip this file.

import { parseArgs } from "node:util";
import {
  CommonConfig,
  ConfigError,
  DEVELOPMENT_SECRET,
  Env,
  loadCommonConfig,
  readBoolean,
  readInteger,
  readString,
} from "../../../phase1-mockup/src/config";

export const PHASE2_DESIGNS = ["memory-session", "redis-session", "cached-session", "jwt", "atomic-session"] as const;
export type Phase2Design = (typeof PHASE2_DESIGNS)[number];
export type SessionDesign = Exclude<Phase2Design, "jwt">;

/** Where Redis is: one server at `url`, or the primary that Sentinels name. */
export interface RedisConnection {
  /** REDIS_URL: one Redis (ignored when `sentinels` is set). */
  url: string;
  /** REDIS_SENTINELS: when set, the server asks these Sentinels for the primary (ioredis Sentinel mode). */
  sentinels?: Array<{ host: string; port: number }>;
  /** REDIS_CLUSTER_NODES: when set, the seed nodes of a Redis Cluster (ioredis Cluster mode). */
  clusterNodes?: Array<{ host: string; port: number }>;
  /** REDIS_MASTER_NAME: the name the Sentinels monitor. */
  masterName: string;
  /** REDIS_FAILOVER_DETECTOR: move to a new primary as soon as the Sentinels announce it. */
  failoverDetector: boolean;
  /** REDIS_WAIT_REPLICAS: after every acknowledged write, WAIT for this many replicas (0: never). */
  waitReplicas: number;
  /** REDIS_WAIT_MS: how long that WAIT may take. */
  waitMs: number;
}

export interface Phase2Config extends CommonConfig {
  design: Phase2Design;
  /** DATABASE_URL: the PostgreSQL that keeps users and files (required). */
  databaseUrl: string;
  redis: RedisConnection;
  keyPrefix: string;
  rateLimitPerMinute: number;
  /** RATE_LIMIT_PER_ACCOUNT_PER_MINUTE: the same, per account name, whatever address the tries come from. */
  rateLimitPerAccountPerMinute: number;
  /** JWT_MAX_AGE: jwt's oldest token accepted, in seconds since its iat. */
  jwtMaxAgeSeconds: number;
  /** COOKIE_SECURE: true or false forces the Secure flag; unset, it follows the request ("auto", behind trust proxy). */
  cookieSecure: boolean | "auto";
}

export function isPhase2Design(value: unknown): value is Phase2Design {
  return PHASE2_DESIGNS.includes(value as Phase2Design);
}

export function loadPhase2Config(env: Env, design: Phase2Design): Phase2Config {
  const redisUrl = readString(env, "REDIS_URL", "redis://127.0.0.1:6379");
  if (!/^rediss?:\/\//.test(redisUrl) || !URL.canParse(redisUrl)) {
    throw new ConfigError("REDIS_URL", "must be a URL like redis://127.0.0.1:6379", redisUrl);
  }
  const keyPrefix = readString(env, "KEY_PREFIX", "lab:");
  if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(keyPrefix)) {
    throw new ConfigError("KEY_PREFIX", "must be 1 to 64 characters of A-Z, a-z, 0-9, : _ . and -", keyPrefix);
  }
  const common = loadCommonConfig(env, design, 4000);
  if (design === "jwt" && (common.usingDevelopmentSecret || common.sessionSecret === DEVELOPMENT_SECRET)) {
    // A token signed with a secret printed in the README is a password anyone can forge.
    throw new ConfigError(
      "SESSION_SECRET",
      "is required for jwt (a token signed with the public development value can be forged by anyone); make one with: export SESSION_SECRET=$(openssl rand -hex 32)",
      "",
    );
  }
  const sentinels = readNodeList(env, "REDIS_SENTINELS", "127.0.0.1:26379,127.0.0.1:26380");
  const clusterNodes = readNodeList(env, "REDIS_CLUSTER_NODES", "127.0.0.1:7000,127.0.0.1:7001");
  if (sentinels && clusterNodes)
    throw new ConfigError(
      "REDIS_CLUSTER_NODES",
      "cannot be set with REDIS_SENTINELS: a Redis Cluster fails over on its own; set one of the two",
      env.REDIS_CLUSTER_NODES ?? "",
    );
  const waitReplicas = readInteger(env, "REDIS_WAIT_REPLICAS", 0, 0, 16);
  if (clusterNodes && waitReplicas > 0) {
    // WAIT counts the writes of one connection to one node; a request's writes go to whichever node owns each key.
    throw new ConfigError(
      "REDIS_WAIT_REPLICAS",
      "must be 0 with REDIS_CLUSTER_NODES (WAIT confirms one node's writes, and a Cluster spreads them)",
      String(waitReplicas),
    );
  }
  return {
    ...common,
    design,
    databaseUrl: readDatabaseUrl(env),
    redis: {
      url: redisUrl,
      sentinels,
      clusterNodes,
      masterName: readMasterName(env),
      failoverDetector: readBoolean(env, "REDIS_FAILOVER_DETECTOR", false),
      waitReplicas,
      waitMs: readInteger(env, "REDIS_WAIT_MS", 100, 1, 900), // below the 1 s command timeout, which would cut it
    },
    keyPrefix,
    rateLimitPerMinute: readInteger(env, "RATE_LIMIT_PER_MINUTE", 30, 1, 1_000_000),
    rateLimitPerAccountPerMinute: readInteger(env, "RATE_LIMIT_PER_ACCOUNT_PER_MINUTE", 30, 1, 1_000_000),
    // jwt: the oldest token accepted, by its iat, whatever its exp says (a token signed with a
    // 10-year exp, by anyone who held the secret once, stops working after this).
    jwtMaxAgeSeconds: readInteger(env, "JWT_MAX_AGE", common.sessionTtlSeconds, 1, 31 * 24 * 3600),
    cookieSecure:
      env.COOKIE_SECURE === undefined || env.COOKIE_SECURE === "" ? "auto" : readBoolean(env, "COOKIE_SECURE", false),
  };
}

/** DATABASE_URL: postgres://user@host:port/database, required: phase 2 keeps its users and files there. */
function readDatabaseUrl(env: Env): string {
  const text = env.DATABASE_URL;
  if (text === undefined || text === "")
    throw new ConfigError(
      "DATABASE_URL",
      "must be set: phase 2 keeps its users and files in PostgreSQL (a URL like postgres://lab@127.0.0.1:5432/lab; npm run db:migrate applies the schema)",
      "",
    );
  if (!/^postgres(ql)?:\/\/[^/]+\/[^/?]+/.test(text) || !URL.canParse(text))
    throw new ConfigError(
      "DATABASE_URL",
      "must be a URL like postgres://lab@127.0.0.1:5432/lab",
      text.replace(/:[^:@/]*@/, ":<hidden>@"),
    );
  return text;
}

/** REDIS_SENTINELS or REDIS_CLUSTER_NODES: `host:port,host:port`, or undefined when unset (then REDIS_URL is used). */
function readNodeList(
  env: Env,
  name: "REDIS_SENTINELS" | "REDIS_CLUSTER_NODES",
  example: string,
): Array<{ host: string; port: number }> | undefined {
  const text = env[name];
  if (text === undefined) return undefined;
  const problem = `must be a comma-separated list of host:port (for example ${example})`;
  if (text.trim() === "") throw new ConfigError(name, problem, text);
  return text.split(",").map((entry) => {
    const match = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry.trim());
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535)
      throw new ConfigError(name, `${problem}; ${JSON.stringify(entry)} is not`, text);
    return { host: match[1], port };
  });
}

function readMasterName(env: Env): string {
  const name = readString(env, "REDIS_MASTER_NAME", "lab");
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name))
    throw new ConfigError("REDIS_MASTER_NAME", "must be 1 to 64 characters of A-Z, a-z, 0-9, . _ and -", name);
  return name;
}

/** Reads `--design D` from the command line; a missing or unknown design is a ConfigError. */
export function readDesignArgument(argv: string[]): Phase2Design {
  const { values } = parseArgs({ args: argv, options: { design: { type: "string" } }, strict: false });
  const design = values.design;
  if (!isPhase2Design(design)) {
    throw new ConfigError("--design", `must be one of ${PHASE2_DESIGNS.join(", ")}`, String(design ?? ""));
  }
  return design;
}
