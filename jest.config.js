// Jest runs the TypeScript tests through ts-jest without type checking (transpile only, much
// faster); the type check is `npm run typecheck` (tsc -b), which CI runs before the tests.
const { readdirSync, readFileSync } = require("node:fs");
const path = require("node:path");

/**
 * The test files whose first docblock says `@machine-heavy`: the ones that load the machine for
 * minutes (the survival matrix, the bench, the demos, the live view's long runs), or run whole
 * stacks alone or in a real Chromium (the lab's command line, the live view's pages). CI runs them
 * once, on the machine's Node, and with LAB_SKIP_HEAVY=1 the rest again on Node 22 and 24
 * (.ci/run): what they prove does not depend on the Node version, and CI has 20 minutes.
 */
function heavyFiles() {
  const found = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const child = path.join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== "node_modules") walk(child);
      else if (
        entry.name.endsWith(".test.ts") &&
        /^\/\*\*[\s\S]*?@machine-heavy[\s\S]*?\*\//.test(readFileSync(child, "utf8"))
      )
        found.push(child);
    }
  };
  for (const part of ["phase1-mockup", "phase2-production", "scripts"]) walk(path.join(__dirname, part));
  return found;
}

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/phase1-mockup", "<rootDir>/phase2-production", "<rootDir>/scripts"],
  testMatch: ["**/tests/**/*.test.ts"],
  testPathIgnorePatterns:
    process.env.LAB_SKIP_HEAVY === "1"
      ? ["/node_modules/", ...heavyFiles().map((file) => file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))]
      : ["/node_modules/"],
  transform: { "^.+\\.ts$": "ts-jest" }, // transpile only: tsconfig.json sets isolatedModules
  testTimeout: 30000,
  // Two workers, on any machine: the files that load every core (the survival matrix, the
  // benchmark) run with no other locked file beside them, those that wait on real timers (the
  // demos, the dashboard, replicated Redis) two at a time at most, and the light files beside
  // anything (test-support/machine-lock-environment.js).
  maxWorkers: 2,
  testSequencer: "<rootDir>/test-support/machine-lock-sequencer.js",
  globalSetup: "<rootDir>/jest.global-setup.js", // reports go to a throw-away folder, not reports/
  globalTeardown: "<rootDir>/jest.global-teardown.js",
};
