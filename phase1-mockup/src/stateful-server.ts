// The stateful server: the "long memory". The user proves who they are once
// (POST /api/session/start) and then sends only X-Session-ID; the session lives in a Map in
// this process, so a restart or a second instance forgets it (docs/concepts.md, "stateful
// trade-offs"). The narrated client is clients/stateful-client.ts.

import { Express, RequestHandler } from "express";
import { loadPhase1Config } from "./config";
import { ApiError } from "./domain/errors";
import { FileService } from "./domain/files";
import { UserService } from "./domain/users";
import { createBaseApp, finishApp, newLifecycle } from "./http/app-basics";
import { fileRoutes } from "./http/file-routes";
import { serve } from "./http/serve";
import { MapSessionStore } from "./sessions/map-session-store";
import { SessionData, SessionStore } from "./sessions/session-store";
import { optionsFromConfig, Phase1AppOptions } from "./stateless-server";

export interface StatefulAppOptions extends Phase1AppOptions {
  sessions: SessionStore;
}

export function createApp(options: StatefulAppOptions): Express {
  const { sessions } = options;
  const users = new UserService(options.store, options.passwordHashCost);
  const files = new FileService(options.store, { maxFileBytes: options.maxFileBytes, idSecret: options.idSecret });
  const app = createBaseApp({
    design: "stateful",
    serverId: options.serverId,
    lifecycle: options.lifecycle ?? newLifecycle(),
    maxFileBytes: options.maxFileBytes,
  });

  // Validation: the id must name a live session in this process's Map. No password check here:
  // the session id stands for the password the user typed once.
  const requireSession: RequestHandler = (req, res, next) => {
    const sessionId = req.get("X-Session-ID");
    if (!sessionId) {
      throw new ApiError(401, "missing_session", "start a session with POST /api/session/start and send its id in X-Session-ID");
    }
    const lookup = sessions.touch(sessionId);
    if (lookup.status === "expired") {
      throw new ApiError(401, "session_expired", `the session was idle for more than ${sessions.ttlSeconds} s; start a new one`);
    }
    if (lookup.status === "not_found") {
      throw new ApiError(401, "session_not_found", "this server knows no such session (it ended, or the server restarted); start a new one");
    }
    res.locals.username = lookup.data.username;
    res.locals.session = lookup.data;
    res.locals.sessionId = sessionId;
    next();
  };

  app.post("/api/users", async (req, res) => {
    res.status(201).json(await users.register(req.body));
  });

  // Creation: the only request that carries the password.
  app.post("/api/session/start", async (req, res) => {
    const username = await users.login(req.body);
    const { sessionId } = sessions.create(username);
    res.status(201).json({ session_id: sessionId, expires_in: sessions.ttlSeconds });
  });

  app.get("/api/session", requireSession, (_req, res) => {
    const session: SessionData = res.locals.session;
    res.json({ ...session, files_uploaded: [...session.files_uploaded] });
  });

  // End: the server forgets the session at once; the id is worthless from now on.
  app.post("/api/session/end", requireSession, (_req, res) => {
    sessions.destroy(res.locals.sessionId);
    res.json({ message: "session ended" });
  });

  app.use(
    fileRoutes({
      files,
      authenticate: requireSession,
      afterUpload: (_req, res, fileId) => {
        const session: SessionData = res.locals.session;
        if (!session.files_uploaded.includes(fileId)) session.files_uploaded.push(fileId);
      },
    }),
  );
  return finishApp(app);
}

if (require.main === module) {
  serve({
    design: "stateful",
    loadConfig: (env) => loadPhase1Config(env, "stateful"),
    createApp: (config, lifecycle) => {
      const sessions = new MapSessionStore(config.sessionTtlSeconds);
      sessions.startSweeper(); // clean-up: expired sessions leave memory even if nobody comes back
      return {
        app: createApp({ ...optionsFromConfig(config, lifecycle), sessions }),
        close: async () => sessions.stopSweeper(),
      };
    },
  });
}
