// Starts one phase-2 server: `npm run server:phase2 -- --design redis-session` (or
// memory-session, cached-session, jwt, atomic-session), on REDIS_URL (or REDIS_SENTINELS). It listens even while Redis is down,
// reports not ready on /ready, and becomes ready by itself when Redis appears
// (docs/transition-to-phase2.md, "What phase 2 adds for operations").

import { loadConfigOrExit, serve } from "../../phase1-mockup/src/http/serve";
import { createApp } from "./app";
import { loadPhase2Config, readDesignArgument } from "./operations/config";

if (require.main === module) {
  const design = loadConfigOrExit("phase2", () => readDesignArgument(process.argv.slice(2)));
  serve({
    design,
    loadConfig: (env) => loadPhase2Config(env, design),
    createApp: (config, lifecycle) => {
      const { app, close } = createApp({
        ...config,
        quota: { maxFiles: config.maxFilesPerUser, maxBytes: config.maxBytesPerUser },
        lifecycle,
      });
      return { app, close };
    },
  });
}
