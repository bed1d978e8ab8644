// Configuration from the environment, every variable listed in docs/api-reference.md
// ("Environment variables"). A bad value stops the process at start with one line naming the
// variable, instead of a server that half works: a lab whose PORT is "30O1" should say so,
// not listen somewhere surprising.

import path from "node:path";
import { AllowedHost, DEFAULT_ALLOWED_HOSTS, parseAllowedHosts } from "./http/allowed-hosts";

export class ConfigError extends Error {
  constructor(variable: string, problem: string, value: string) {
    super(`${variable} ${problem} (got ${JSON.stringify(value)})`);
    this.name = "ConfigError";
  }
}

export type Env = Record<string, string | undefined>;

/** Phase 1's two designs, each its own server (the names of docs/concepts.md). */
export const PHASE1_DESIGNS = ["stateless", "stateful"] as const;
export type Phase1Design = (typeof PHASE1_DESIGNS)[number];

/** The development secret: fixed, never random, so that instances and restarts agree. */
export const DEVELOPMENT_SECRET = "lab-development-secret-change-me-in-production";
export const LOG_LEVELS = ["silent", "fatal", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEFAULT_MAX_FILE_BYTES = 1048576;

/** MAX_FILE_BYTES: the largest file content, 1 MiB unless set; read by the servers and the built-in balancer alike. */
export function readMaxFileBytes(env: Env): number {
  return readInteger(env, "MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES, 1, 64 * 1048576);
}

export function readInteger(env: Env, name: string, fallback: number, min: number, max: number): number {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  if (!/^\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}`, text);
  }
  return Number(text);
}

export function readString(env: Env, name: string, fallback: string): string {
  const text = env[name];
  return text === undefined || text === "" ? fallback : text;
}

export function readBoolean(env: Env, name: string, fallback: boolean): boolean {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  if (text !== "true" && text !== "false") throw new ConfigError(name, "must be true or false", text);
  return text === "true";
}

export function readChoice<T extends string>(env: Env, name: string, fallback: T, choices: readonly T[]): T {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  if (!choices.includes(text as T)) throw new ConfigError(name, `must be one of ${choices.join(", ")}`, text);
  return text as T;
}

/** What every server of both phases reads. */
export interface CommonConfig {
  port: number;
  host: string;
  serverId: string;
  sessionSecret: string;
  /** True when SESSION_SECRET was not set and the development value is in use. */
  usingDevelopmentSecret: boolean;
  sessionTtlSeconds: number;
  maxFileBytes: number;
  /** MAX_FILES_PER_USER and MAX_BYTES_PER_USER: what one user may hold (413 quota_exceeded beyond). */
  maxFilesPerUser: number;
  maxBytesPerUser: number;
  passwordHashCost: number;
  logLevel: LogLevel;
  /** ALLOWED_HOSTS: the names (and ports) this server answers to; "*" for any. */
  allowedHosts: AllowedHost[] | "*";
  /** TRUST_PROXY_HOPS: how many proxies stand in front; X-Forwarded-For is read this many hops deep, no further. */
  trustProxyHops: number;
}

export function loadCommonConfig(env: Env, design: string, defaultPort: number): CommonConfig {
  const port = readInteger(env, "PORT", defaultPort, 0, 65535);
  const secret = env.SESSION_SECRET;
  if (secret !== undefined && secret !== "" && secret.length < 32) {
    throw new ConfigError("SESSION_SECRET", "must have at least 32 characters", "<hidden>");
  }
  if ((secret === undefined || secret === "") && env.NODE_ENV === "production") {
    throw new ConfigError("SESSION_SECRET", "is required when NODE_ENV=production", "");
  }
  return {
    port,
    host: readString(env, "HOST", "127.0.0.1"),
    // With PORT=0 the real port is known only after listen; serve.ts fills it in then.
    serverId: readString(env, "SERVER_ID", `${design}-${port}`),
    sessionSecret: secret || DEVELOPMENT_SECRET,
    usingDevelopmentSecret: !secret,
    sessionTtlSeconds: readInteger(env, "SESSION_TTL_SECONDS", 1800, 1, 31 * 24 * 3600),
    maxFileBytes: readMaxFileBytes(env),
    maxFilesPerUser: readInteger(env, "MAX_FILES_PER_USER", 1000, 1, 1_000_000),
    maxBytesPerUser: readInteger(env, "MAX_BYTES_PER_USER", 64 * 1048576, 1, 2 ** 40),
    passwordHashCost: readInteger(env, "PASSWORD_HASH_COST", 14, 4, 14),
    logLevel: readChoice(env, "LOG_LEVEL", "info", LOG_LEVELS),
    allowedHosts: readAllowedHosts(env),
    trustProxyHops: readInteger(env, "TRUST_PROXY_HOPS", 0, 0, 10),
  };
}

export function readAllowedHosts(env: Env): AllowedHost[] | "*" {
  const text = readString(env, "ALLOWED_HOSTS", DEFAULT_ALLOWED_HOSTS);
  try {
    return parseAllowedHosts(text);
  } catch (error) {
    throw new ConfigError(
      "ALLOWED_HOSTS",
      `must be * or a comma list of host or host:port: ${(error as Error).message}`,
      text,
    );
  }
}

export interface Phase1Config extends CommonConfig {
  dataDir: string;
}

export function loadPhase1Config(env: Env, design: Phase1Design): Phase1Config {
  const dataDir = path.resolve(readString(env, "DATA_DIR", path.join("data", "phase1")));
  // Kernel file systems accept no data, and Node's recursive mkdir spins forever on /proc.
  if (/^\/(proc|sys)(\/|$)/.test(dataDir))
    throw new ConfigError("DATA_DIR", "must be a directory on a real file system, not under /proc or /sys", dataDir);
  return { ...loadCommonConfig(env, design, design === "stateless" ? 3000 : 3001), dataDir };
}
