// Phase 2's configuration: phase 1's variables plus Redis, the key prefix, the rate limit and
// the cookie's Secure flag (docs/api-reference.md, "Environment variables"), and the design to
// run, from `--design D`.

import { parseArgs } from "node:util";
import { CommonConfig, ConfigError, Env, loadCommonConfig, readBoolean, readInteger, readString } from "../../phase1-mockup/src/config";

export const PHASE2_DESIGNS = ["memory-session", "redis-session", "cached-session", "jwt", "atomic-session"] as const;
export type Phase2Design = (typeof PHASE2_DESIGNS)[number];
export type SessionDesign = Exclude<Phase2Design, "jwt">;

export interface Phase2Config extends CommonConfig {
  design: Phase2Design;
  redisUrl: string;
  keyPrefix: string;
  rateLimitPerMinute: number;
  cookieSecure: boolean;
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
  return {
    ...loadCommonConfig(env, design, 4000),
    design,
    redisUrl,
    keyPrefix,
    rateLimitPerMinute: readInteger(env, "RATE_LIMIT_PER_MINUTE", 30, 1, 1_000_000),
    cookieSecure: readBoolean(env, "COOKIE_SECURE", false),
  };
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
