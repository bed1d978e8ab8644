// Jest runs the TypeScript tests through ts-jest without type checking (transpile only, much
// faster); the type check is `npm run typecheck` (tsc -b), which CI runs before the tests.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/phase1-mockup", "<rootDir>/phase2-production", "<rootDir>/scripts"],
  testMatch: ["**/tests/**/*.test.ts"],
  transform: { "^.+\\.ts$": "ts-jest" }, // transpile only: tsconfig.json sets isolatedModules
  testTimeout: 30000,
  globalSetup: "<rootDir>/jest.global-setup.js", // reports go to a throw-away folder, not reports/
  globalTeardown: "<rootDir>/jest.global-teardown.js",
};
