// The phase-2 application: phase 1's users-and-files API, grown up. One app, five designs:
// memory-session, redis-session and cached-session differ only in their session store
// (sessions/store-per-design.ts); atomic-session is redis-session whose requests change the
// session with atomic commands (sessions/atomic-session-routes.ts); jwt keeps no session at all.
// Users and files live in PostgreSQL in every design (data/postgres-data-store.ts), so every
// instance shares them; Redis keeps only what is shaped like a session. Explained in
// docs/transition-to-phase2.md.
//
// Redis or PostgreSQL down is an expected state, not a crash: the server listens anyway, /ready
// says 503, every request that needs the missing one is answered 503 (store_unavailable,
// database_unavailable), and service resumes by itself when it comes back.

import { ErrorRequestHandler, Express, RequestHandler } from "express";
import session from "express-session";
import type { RedisClient } from "./operations/redis-client";
import { LogLevel } from "../../phase1-mockup/src/config";
import { ApiError, StoreUnavailableError } from "../../phase1-mockup/src/domain/errors";
import { Quota } from "../../phase1-mockup/src/domain/data-store";
import { FileService } from "../../phase1-mockup/src/domain/files";
import { UserService } from "../../phase1-mockup/src/domain/users";
import { AllowedHost } from "../../phase1-mockup/src/http/allowed-hosts";
import { createBaseApp, finishApp, Lifecycle, newLifecycle } from "../../phase1-mockup/src/http/app-basics";
import { fileRoutes } from "../../phase1-mockup/src/http/file-routes";
import { Phase2Design, RedisConnection } from "./operations/config";
import { bearerAuthentication, jwtRoutes, revocationChecked } from "./jwt/jwt-routes";
import { TokenService } from "./jwt/tokens";
import { createLogger, LabMetrics, requestLogging } from "./operations/observability";
import { createLoginRateLimit } from "./operations/rate-limit";
import { createRedisClient, isRedisReady, redisNotReadyReason, replicaConfirmation } from "./operations/redis-client";
import { createPool, PostgresDataStore } from "./data/postgres-data-store";
import { confirmingWrites, createSessionStore, withoutTouch } from "./sessions/store-per-design";
import { atomicSession } from "./sessions/atomic-session-routes";
import {
  rememberUpload,
  requireSession,
  saveBeforeAnswer,
  SESSION_COOKIE,
  sessionRoutes,
} from "./sessions/session-routes";

export interface Phase2AppOptions {
  design: Phase2Design;
  /** DATABASE_URL: users and files in this PostgreSQL (its schema migrated). */
  databaseUrl: string;
  serverId: string;
  redis: RedisConnection;
  keyPrefix: string;
  sessionSecret: string;
  sessionTtlSeconds: number;
  /** jwt: the oldest token accepted, in seconds since its iat (JWT_MAX_AGE; default the session lifetime). */
  jwtMaxAgeSeconds?: number;
  maxFileBytes: number;
  /** What one user may hold (MAX_FILES_PER_USER, MAX_BYTES_PER_USER); the defaults when absent. */
  quota?: Quota;
  passwordHashCost: number;
  rateLimitPerMinute: number;
  /** RATE_LIMIT_PER_ACCOUNT_PER_MINUTE: logins and sign-ups per account name; rateLimitPerMinute when absent. */
  rateLimitPerAccountPerMinute?: number;
  /** ALLOWED_HOSTS and TRUST_PROXY_HOPS (phase1-mockup/src/http/app-basics.ts). */
  allowedHosts?: AllowedHost[] | "*";
  trustProxyHops?: number;
  /** true or false forces the cookie's Secure flag; "auto" follows the request (req.secure, behind trust proxy). */
  cookieSecure: boolean | "auto";
  logLevel: LogLevel;
  lifecycle?: Lifecycle;
}

export interface Phase2App {
  app: Express;
  client: RedisClient;
  metrics: LabMetrics;
  /** Closes the Redis connection; the app answers 503 afterwards. */
  close(): Promise<void>;
}

export function createApp(options: Phase2AppOptions): Phase2App {
  const { design, keyPrefix } = options;
  const logger = createLogger(options.logLevel, { design, server_id: options.serverId });
  const metrics = new LabMetrics(design, options.serverId);
  const sentinelList = (options.redis.sentinels ?? []).map((sentinel) => `${sentinel.host}:${sentinel.port}`).join(",");
  let sentinelTrouble: string | undefined;
  const client = createRedisClient(options.redis, {
    onCommand: (name, seconds, ok) => metrics.observeRedisCommand(name, seconds, ok),
    onError: (error) => {
      logger.debug({ err: error.message }, "redis connection error");
      // Sentinel mode: say once, at warn, why no primary is known (a REDIS_MASTER_NAME the
      // Sentinels do not monitor, Sentinels that do not answer), not once per retry.
      const cause = /All sentinels are unreachable.*Last error: (.*)$/.exec(error.message)?.[1];
      if (cause && cause !== sentinelTrouble)
        logger.warn(
          { err: cause },
          `no primary named "${options.redis.masterName}" from the Sentinels ${sentinelList}: ${cause}`,
        );
      sentinelTrouble = cause ?? sentinelTrouble;
    },
  });
  // One line when Redis goes away and one when it is back, not one per reconnection attempt.
  let redisState: "ready" | "closed" | undefined;
  client.on("ready", () => {
    redisState = "ready";
    sentinelTrouble = undefined;
    logger.info("redis ready");
  });
  client.on("close", () => {
    if (redisState !== "closed") logger.warn("redis connection closed; reconnecting in the background");
    redisState = "closed";
  });

  const confirmed = replicaConfirmation(client, options.redis.waitReplicas, options.redis.waitMs);
  const database = new PostgresDataStore(createPool(options.databaseUrl));
  const users = new UserService(database, options.passwordHashCost);
  const files = new FileService(database, {
    maxFileBytes: options.maxFileBytes,
    idSecret: options.sessionSecret,
    quota: options.quota,
  });

  const app = createBaseApp({
    design,
    serverId: options.serverId,
    lifecycle: options.lifecycle ?? newLifecycle(),
    notReadyReason: async () => {
      const redis = await redisNotReadyReason(client);
      if (redis) return redis;
      const db = await database.notReadyReason();
      return db ? { code: "database_unavailable" as const, message: db } : undefined;
    },
    middleware: [requestLogging(logger), metrics.middleware()],
    allowedHosts: options.allowedHosts,
    trustProxyHops: options.trustProxyHops,
  });
  if (options.redis.sentinels) {
    // Replicated Redis: which node this instance talks to, so that a client (the lab's checker)
    // can tell which primary acknowledged a write that was later lost.
    app.use((_req, res, next) => {
      const stream = (client as unknown as { stream?: { remoteAddress?: string; remotePort?: number } }).stream;
      if (isRedisReady(client) && stream?.remotePort)
        res.set("X-Store-Node", `${stream.remoteAddress}:${stream.remotePort}`);
      next();
    });
  }
  app.get("/metrics", async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  // While Redis is away no session can be read (and no jwt checked against the deny-list): say
  // so at once, before any middleware tries a command. memory-session needs Redis only for the
  // login limit's counters: its sessions are in the instance, and the rest answers without it.
  const requireRedis: RequestHandler = (_req, _res, next) =>
    next(isRedisReady(client) ? undefined : new StoreUnavailableError(`Redis is not connected (${client.status})`));
  if (design !== "memory-session") app.use("/api", requireRedis);

  const loginRateLimit = createLoginRateLimit(client, keyPrefix, {
    perAddress: options.rateLimitPerMinute,
    perAccount: options.rateLimitPerAccountPerMinute ?? options.rateLimitPerMinute,
  });
  app.post("/api/users", loginRateLimit);
  app.post("/api/login", loginRateLimit);

  app.post("/api/users", async (req, res) => {
    res.status(201).json(await users.register(req.body));
  });

  if (design === "jwt") {
    const tokens = new TokenService(
      options.sessionSecret,
      { ttlSeconds: options.sessionTtlSeconds, maxAgeSeconds: options.jwtMaxAgeSeconds ?? options.sessionTtlSeconds },
      client,
      keyPrefix,
      confirmed,
    );
    app.use(jwtRoutes(users, tokens, options.sessionTtlSeconds, () => metrics.sessionsCreated.inc()));
    app.use(fileRoutes({ files, authenticate: bearerAuthentication(tokens), beforeAnswer: revocationChecked }));
  } else {
    const store = withoutTouch(createSessionStore(design, client, keyPrefix));
    // MemoryStore writes nothing to Redis: there is nothing for a replica to confirm.
    const sessionStore = design === "memory-session" ? store : confirmingWrites(store, confirmed);
    const sessions = session({
      name: SESSION_COOKIE,
      secret: options.sessionSecret,
      store: sessionStore, // our explicit saves renew the expiry
      resave: false, // don't save a session that did not change (we save explicitly anyway)
      saveUninitialized: false, // don't store a session until someone logs in: probes and floods create nothing
      rolling: true, // every answer renews the cookie's expiry, so the cookie, the store's TTL and the idle rule agree
      cookie: {
        httpOnly: true, // page scripts cannot read the session id
        sameSite: "lax", // not sent on cross-site POSTs
        secure: options.cookieSecure, // "auto": Secure when the request came over HTTPS (X-Forwarded-Proto behind the balancer)
        maxAge: options.sessionTtlSeconds * 1000, // milliseconds; connect-redis turns it into the key's TTL
      },
    });
    app.use("/api", (req, res, next) =>
      sessions(req, res, (error?: unknown) => {
        // express-session calls this again if its own touch or save at the very end fails, after
        // the answer was sent: passing that on would make Express cut the connection mid-answer.
        if (error && res.headersSent)
          return logger.warn({ err: (error as Error)?.message }, "session store failed after the answer was sent");
        // A failure while loading the session is a store error: 503, never 401.
        next(
          error
            ? new StoreUnavailableError(`session store: ${(error as Error)?.message ?? String(error)}`, {
                cause: error,
              })
            : undefined,
        );
      }),
    );
    if (options.cookieSecure === true) {
      // express-session would answer 200 and silently leave the cookie out: say why instead.
      app.post("/api/login", (req, _res, next) =>
        next(
          req.secure
            ? undefined
            : new ApiError(
                400,
                "validation_error",
                "COOKIE_SECURE=true sends the session cookie over HTTPS only, and this login came over plain HTTP: log in over HTTPS (or through a proxy that sets X-Forwarded-Proto: https)",
              ),
        ),
      );
    }
    const onSessionCreated = () => metrics.sessionsCreated.inc();
    if (design === "atomic-session") {
      const atomic = atomicSession({
        client,
        confirmed,
        keyPrefix,
        ttlSeconds: options.sessionTtlSeconds,
        users,
        files,
        onSessionCreated,
      });
      app.use(atomic.router);
      app.use(
        fileRoutes({
          files,
          authenticate: atomic.requireSession,
          afterUpload: atomic.rememberUpload,
          beforeAnswer: atomic.recordRequest,
        }),
      );
    } else {
      app.use(sessionRoutes({ users, ttlSeconds: options.sessionTtlSeconds, onSessionCreated }));
      app.use(
        fileRoutes({
          files,
          authenticate: requireSession,
          afterUpload: rememberUpload,
          beforeAnswer: saveBeforeAnswer,
        }),
      );
    }
  }

  const countStoreErrors: ErrorRequestHandler = (error, _req, _res, next) => {
    if (error instanceof StoreUnavailableError) metrics.storeErrors.inc();
    next(error);
  };
  app.use(countStoreErrors);
  finishApp(app, (message, error) =>
    logger.error({ err: error instanceof Error ? error.message : String(error) }, message),
  );

  return {
    app,
    client,
    metrics,
    close: async () => {
      if (client.status === "ready") await client.quit().catch(() => client.disconnect());
      else client.disconnect();
      await database.close().catch(() => undefined);
    },
  };
}
