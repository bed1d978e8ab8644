// The stateful server: the "long memory". The user proves who they are once
// (POST /api/session/start) and then sends only X-Session-ID; the session lives in a Map in this
// process, so a restart or a second instance forgets it (docs/concepts.md, "stateful trade-offs").
// Read it beside stateless-server.ts; its session routes are in sessions/session-routes.ts, what
// both servers share in phase1-app.ts. The narrated client: clients/stateful-client.ts.

import { Express } from "express";
import { loadPhase1Config } from "./config";
import { finishApp } from "./http/app-basics";
import { fileRoutes } from "./http/file-routes";
import { serve } from "./http/serve";
import { optionsFromConfig, Phase1AppOptions, startPhase1App } from "./phase1-app";
import { MapSessionStore } from "./sessions/map-session-store";
import { SessionStore } from "./sessions/session-store";
import { rememberUpload, requireSession, sessionRoutes } from "./sessions/session-routes";

export interface StatefulAppOptions extends Phase1AppOptions {
  sessions: SessionStore;
}

export function createApp(options: StatefulAppOptions): Express {
  const { sessions } = options;
  const { app, users, files } = startPhase1App("stateful", options);

  app.post("/api/users", async (req, res) => {
    res.status(201).json(await users.register(req.body));
  });

  app.use(sessionRoutes({ users, sessions }));
  app.use(fileRoutes({ files, authenticate: requireSession(sessions), afterUpload: rememberUpload }));
  return finishApp(app);
}

if (require.main === module) {
  serve({
    design: "stateful",
    loadConfig: (env) => loadPhase1Config(env, "stateful"),
    createApp: async (config, lifecycle) => {
      const sessions = new MapSessionStore(config.sessionTtlSeconds);
      sessions.startSweeper(); // clean-up: expired sessions leave memory even if nobody comes back
      return {
        app: createApp({ ...(await optionsFromConfig(config, lifecycle)), sessions }),
        close: async () => sessions.stopSweeper(),
      };
    },
  });
}
