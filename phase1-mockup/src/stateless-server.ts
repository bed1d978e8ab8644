// The stateless server: the "goldfish". It remembers nothing between requests, so every
// request but registration carries the user's credentials (Authorization: Basic) and the
// server checks the password every time. Any instance can answer any request, and a restart
// loses nothing, at the price of a password hash on every request.
// Explained in docs/concepts.md ("stateless trade-offs"); the narrated client is
// clients/stateless-client.ts.

import { Express, RequestHandler } from "express";
import { ConfigError, loadPhase1Config, Phase1Config } from "./config";
import { DataStore, Quota } from "./domain/data-store";
import { ApiError } from "./domain/errors";
import { FileDataStore } from "./domain/file-data-store";
import { FileService } from "./domain/files";
import { UserService } from "./domain/users";
import { createBaseApp, finishApp, Lifecycle, newLifecycle } from "./http/app-basics";
import { fileRoutes } from "./http/file-routes";
import { serve } from "./http/serve";

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
}

const CHALLENGE = { "WWW-Authenticate": 'Basic realm="stateless-lab", charset="UTF-8"' };
const BASIC = /^Basic +([A-Za-z0-9+/]+={0,2})$/i;

/** Splits `Basic base64(username:password)`, or null when the header is malformed. */
export function parseBasicAuthorization(header: string): { username: string; password: string } | null {
  const encoded = BASIC.exec(header.trim())?.[1];
  if (!encoded || encoded.length % 4 !== 0) return null;
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function createApp(options: Phase1AppOptions): Express {
  const users = new UserService(options.store, options.passwordHashCost);
  const files = new FileService(options.store, {
    maxFileBytes: options.maxFileBytes,
    idSecret: options.idSecret,
    quota: options.quota,
  });
  const app = createBaseApp({
    design: "stateless",
    serverId: options.serverId,
    lifecycle: options.lifecycle ?? newLifecycle(),
  });

  // Every request proves who it is from scratch: there is nothing to look up, so nothing to lose.
  const authenticate: RequestHandler = async (req, res, next) => {
    const header = req.get("Authorization");
    if (!header) {
      throw new ApiError(
        401,
        "missing_credentials",
        "send Authorization: Basic base64(username:password) with every request",
        CHALLENGE,
      );
    }
    const credentials = parseBasicAuthorization(header);
    if (!credentials) {
      throw new ApiError(
        401,
        "invalid_credentials",
        "the Authorization header is not Basic base64(username:password)",
        CHALLENGE,
      );
    }
    try {
      const identity = await users.authenticate(credentials.username, credentials.password);
      res.locals.username = identity.username;
      res.locals.userId = identity.userId;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401)
        throw new ApiError(401, error.code, error.message, CHALLENGE);
      throw error;
    }
    next();
  };

  app.post("/api/users", async (req, res) => {
    res.status(201).json(await users.register(req.body));
  });

  app.get("/api/session", () => {
    throw new ApiError(
      404,
      "not_found",
      "the stateless design keeps no session: every request carries its own credentials",
    );
  });

  app.use(fileRoutes({ files, authenticate }));
  return finishApp(app);
}

export function optionsFromConfig(config: Phase1Config, lifecycle: Lifecycle): Phase1AppOptions {
  return {
    serverId: config.serverId,
    store: openDataDir(config.dataDir),
    passwordHashCost: config.passwordHashCost,
    maxFileBytes: config.maxFileBytes,
    idSecret: config.sessionSecret,
    quota: { maxFiles: config.maxFilesPerUser, maxBytes: config.maxBytesPerUser },
    lifecycle,
  };
}

function openDataDir(dataDir: string): FileDataStore {
  try {
    return new FileDataStore(dataDir);
  } catch (error) {
    throw new ConfigError("DATA_DIR", `cannot be used: ${(error as Error).message}`, dataDir);
  }
}

if (require.main === module) {
  serve({
    design: "stateless",
    loadConfig: (env) => loadPhase1Config(env, "stateless"),
    createApp: (config, lifecycle) => ({ app: createApp(optionsFromConfig(config, lifecycle)) }),
  });
}
