// The stateless server: the "goldfish". It remembers nothing between requests, so every request
// but registration carries the user's credentials (Authorization: Basic) and the server checks the
// password every time: any instance can answer, a restart loses nothing, and every request costs a
// password hash (docs/concepts.md, "stateless trade-offs"). Read it beside stateful-server.ts; what
// both share and is not the lesson is in phase1-app.ts. The narrated client: clients/stateless-client.ts.

import { Express, RequestHandler } from "express";
import { loadPhase1Config } from "./config";
import { ApiError, ErrorCode } from "./domain/errors";
import { finishApp } from "./http/app-basics";
import { fileRoutes } from "./http/file-routes";
import { serve } from "./http/serve";
import { optionsFromConfig, Phase1AppOptions, startPhase1App } from "./phase1-app";

const CHALLENGE = { "WWW-Authenticate": 'Basic realm="stateless-lab", charset="UTF-8"' };
const BASIC = /^Basic +([A-Za-z0-9+/]+={0,2})$/i;

/** A 401 with the challenge, which tells a browser or curl to ask for Basic credentials. */
function refuse(code: ErrorCode, message: string): never {
  throw new ApiError(401, code, message, CHALLENGE);
}

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
  const { app, users, files } = startPhase1App("stateless", options);

  // Every request proves who it is from scratch: there is nothing to look up, so nothing to lose.
  const authenticate: RequestHandler = async (req, res, next) => {
    const header = req.get("Authorization");
    if (!header)
      refuse("missing_credentials", "send Authorization: Basic base64(username:password) with every request");
    const credentials = parseBasicAuthorization(header);
    if (!credentials) refuse("invalid_credentials", "the Authorization header is not Basic base64(username:password)");
    try {
      const identity = await users.authenticate(credentials.username, credentials.password);
      res.locals.username = identity.username;
      res.locals.userId = identity.userId;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) refuse(error.code, error.message);
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

if (require.main === module) {
  serve({
    design: "stateless",
    loadConfig: (env) => loadPhase1Config(env, "stateless"),
    createApp: async (config, lifecycle) => ({ app: createApp(await optionsFromConfig(config, lifecycle)) }),
  });
}
