// What both phase-1 servers share that is not their lesson: their options, read from the config,
// and the services and base app each one starts from. The lesson, how a request proves who it
// is, stays written out in stateless-server.ts and stateful-server.ts, to be read side by side
// (docs/concepts.md, "Goldfish vs long memory").

import { Express } from "express";
import { ConfigError, Phase1Config } from "./config";
import { DataStore, Quota } from "./domain/data-store";
import { FileDataStore } from "./domain/file-data-store";
import { FileService } from "./domain/files";
import { UserService } from "./domain/users";
import { AllowedHost } from "./http/allowed-hosts";
import { createBaseApp, Lifecycle, newLifecycle } from "./http/app-basics";

export interface Phase1AppOptions {
  serverId: string;
  store: DataStore;
  passwordHashCost: number;
  maxFileBytes: number;
  /** Keys the HMAC that turns an Idempotency-Key into a file id; every instance shares it. */
  idSecret: string;
  /** What one user may hold (MAX_FILES_PER_USER, MAX_BYTES_PER_USER); the defaults when absent. */
  quota?: Quota;
  lifecycle?: Lifecycle;
  /** ALLOWED_HOSTS and TRUST_PROXY_HOPS (app-basics.ts); loopback's names and no proxy when absent. */
  allowedHosts?: AllowedHost[] | "*";
  trustProxyHops?: number;
}

/** The users and files of one data store, and an app with the routes every design has (health, errors). */
export function startPhase1App(
  design: "stateless" | "stateful",
  options: Phase1AppOptions,
): { app: Express; users: UserService; files: FileService } {
  return {
    app: createBaseApp({
      design,
      serverId: options.serverId,
      lifecycle: options.lifecycle ?? newLifecycle(),
      allowedHosts: options.allowedHosts,
      trustProxyHops: options.trustProxyHops,
    }),
    users: new UserService(options.store, options.passwordHashCost),
    files: new FileService(options.store, {
      maxFileBytes: options.maxFileBytes,
      idSecret: options.idSecret,
      quota: options.quota,
    }),
  };
}

/**
 * The options of a server about to serve: its DATA_DIR opened and cleaned first, so that what
 * a killed process left there (half-written content, temp records, its reservations) is gone
 * before the first request (docs/api-reference.md, "POST /api/upload").
 */
export async function optionsFromConfig(config: Phase1Config, lifecycle: Lifecycle): Promise<Phase1AppOptions> {
  const store = openDataDir(config.dataDir);
  const cleaned = await store.clean();
  const removed = cleaned.contentFiles + cleaned.tempFiles + cleaned.claims;
  if ((removed > 0 || cleaned.usersSkipped > 0) && ["info", "debug", "trace"].includes(config.logLevel)) {
    console.log(
      `[${config.serverId}] DATA_DIR cleaned: ${cleaned.contentFiles} content file(s) no record named, ` +
        `${cleaned.tempFiles} temp record(s) and ${cleaned.claims} reservation(s) left by stopped processes` +
        (cleaned.usersSkipped > 0 ? `; ${cleaned.usersSkipped} user(s) busy, left for the next start` : ""),
    );
  }
  return {
    serverId: config.serverId,
    store,
    passwordHashCost: config.passwordHashCost,
    maxFileBytes: config.maxFileBytes,
    idSecret: config.sessionSecret,
    quota: { maxFiles: config.maxFilesPerUser, maxBytes: config.maxBytesPerUser },
    lifecycle,
    allowedHosts: config.allowedHosts,
    trustProxyHops: config.trustProxyHops,
  };
}

function openDataDir(dataDir: string): FileDataStore {
  try {
    return new FileDataStore(dataDir);
  } catch (error) {
    throw new ConfigError("DATA_DIR", `cannot be used: ${(error as Error).message}`, dataDir);
  }
}
