// The benchmark's textbook peers (docs/how-the-lab-works.md, "The benchmark harness"): the app a
// tutorial would write for the same work as a phase-2 design, so that the bench can ask the
// question a user asks: is the lab's server, with its logs, metrics, validation, request ids and
// rate limit, at least as cheap as the tutorial's? Run by bench.ts as
// `node dist/scripts/bench/textbook.js <peer>`; it answers /ready like the lab's servers.

import { randomBytes, randomUUID } from "node:crypto";
import express from "express";
import session from "express-session";
import { RedisStore } from "connect-redis";
import Redis, { Cluster } from "ioredis";
import { jwtVerify, SignJWT } from "jose";
import { Pool } from "pg";
import { UserService } from "../../phase1-mockup/src/domain/users";
import { PostgresDataStore } from "../../phase2-production/src/data/postgres-data-store";
import { loadPhase2Config } from "../../phase2-production/src/operations/config";
import { TEXTBOOK_PEERS, TextbookPeer } from "../designs";
import { serveForBench } from "./ceilings";

declare module "express-session" {
  interface SessionData {
    userId?: string;
    count?: number;
  }
}

/**
 * One peer, with PORT, DATABASE_URL, REDIS_URL (or REDIS_CLUSTER_NODES) and SESSION_SECRET set.
 * Each counts the request in its session and lists the same user's files from the same
 * PostgreSQL, with nothing else: no logs, no metrics, no validation, no rate limit, no error format.
 *
 *   textbook:memory-session  express-session and its MemoryStore
 *   textbook:redis-session   express-session, connect-redis and ioredis (the default settings a tutorial copies)
 *   textbook:jwt             jose (HS256) and a Redis EXISTS on the token's id for logout
 *
 * All three use `resave: false, saveUninitialized: false, rolling: true` where a session is
 * involved, ioredis with its defaults (`new Redis(url)`), and a pg Pool with its defaults
 * (`new Pool({ connectionString })`) on the lab's own tables: a read is one plain SELECT, as a
 * tutorial writes it. An upload goes through the lab's own transaction (PostgresDataStore: the
 * user's row locked, the files counted, the insert), with no quota to meet, so that the data
 * work is the design's and the difference is the server around it. The login, not measured,
 * borrows the lab's password check.
 */
function app(peer: TextbookPeer): express.Express {
  // The lab's own parsing of DATABASE_URL, REDIS_URL or REDIS_CLUSTER_NODES, so that a peer runs
  // on the same stores as the designs; but ioredis and pg as a tutorial creates them, with their defaults.
  const config = loadPhase2Config(process.env, "redis-session");
  const pool = new Pool({ connectionString: config.databaseUrl });
  // The MemoryStore's peer keeps nothing in Redis.
  const client =
    peer === "textbook:memory-session"
      ? undefined
      : config.redis.clusterNodes
        ? new Cluster(config.redis.clusterNodes)
        : new Redis(config.redis.url);
  const store = new PostgresDataStore(pool);
  const users = new UserService(store, 10);
  const secret = config.sessionSecret;
  const key = new TextEncoder().encode(secret);
  const web = express();
  web.use(express.json());
  web.get("/ready", async (_req, res) => {
    const database = await pool.query("SELECT 1").then(
      () => "ready",
      (error: Error) => error.message,
    );
    const status = client && client.status !== "ready" ? client.status : database;
    res.status(status === "ready" ? 200 : 503).json({ status });
  });

  const listFiles = async (userId: string) =>
    (
      await pool.query("SELECT file_id, filename, size, created_at FROM files WHERE user_id = $1 ORDER BY created_at", [
        userId,
      ])
    ).rows;
  const upload = async (userId: string, body: { filename: string; content: string }) => {
    const file = {
      file_id: randomUUID().replace(/-/g, ""),
      owner: userId,
      filename: body.filename,
      content: body.content,
      size: Buffer.byteLength(body.content),
      created_at: new Date().toISOString(),
    };
    await store.putFileIfAbsent(file, { maxFiles: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER });
    return file;
  };

  if (peer === "textbook:jwt") {
    web.post("/api/login", async (req, res) => {
      const { userId, username } = await users.login(req.body);
      const token = await new SignJWT({ name: username })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(userId)
        .setJti(randomBytes(16).toString("hex"))
        .setIssuedAt()
        .setExpirationTime("30m")
        .sign(key);
      res.json({ token });
    });
    const auth: express.RequestHandler = async (req, res, next) => {
      try {
        const { payload } = await jwtVerify((req.headers.authorization ?? "").slice(7), key, { algorithms: ["HS256"] });
        if (await client?.exists(`${config.keyPrefix}revoked:${payload.jti}`))
          return void res.status(401).json({ error: "revoked" });
        res.locals.userId = payload.sub;
        next();
      } catch {
        res.status(401).json({ error: "unauthorized" });
      }
    };
    web.get("/api/files", auth, async (_req, res) => void res.json({ files: await listFiles(res.locals.userId) }));
    web.post(
      "/api/upload",
      auth,
      async (req, res) => void res.status(201).json(await upload(res.locals.userId, req.body)),
    );
    return web;
  }

  web.use(
    session({
      name: "sid",
      secret,
      resave: false,
      saveUninitialized: false,
      rolling: true,
      cookie: { httpOnly: true, sameSite: "lax", maxAge: 30 * 60 * 1000 },
      store:
        peer === "textbook:redis-session"
          ? new RedisStore({ client: client as Redis | Cluster, prefix: `${config.keyPrefix}textbook-sess:` })
          : undefined, // undefined: the MemoryStore
    }),
  );
  web.post("/api/login", async (req, res) => {
    const { userId, username } = await users.login(req.body);
    req.session.regenerate(() => {
      req.session.userId = userId;
      req.session.count = 0;
      res.json({ username });
    });
  });
  const auth: express.RequestHandler = (req, res, next) => {
    if (!req.session.userId) return void res.status(401).json({ error: "unauthorized" });
    req.session.count = (req.session.count ?? 0) + 1; // the request counted in the session, as the designs do
    next();
  };
  web.get(
    "/api/files",
    auth,
    async (req, res) => void res.json({ files: await listFiles(req.session.userId as string) }),
  );
  web.post(
    "/api/upload",
    auth,
    async (req, res) => void res.status(201).json(await upload(req.session.userId as string, req.body)),
  );
  return web;
}

if (require.main === module) serveForBench({ name: "textbook", serves: "peer" }, TEXTBOOK_PEERS, app);
