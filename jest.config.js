// Jest runs the TypeScript tests through ts-jest without type checking (transpile only, much
// faster); the type check is `npm run typecheck` (tsc -b), which CI runs before the tests.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/phase1-mockup", "<rootDir>/phase2-production", "<rootDir>/scripts"],
  testMatch: ["**/tests/**/*.test.ts"],
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
