// Builds phase-1 apps in the test process, for supertest: no port, no process, a fresh
// DATA_DIR each, and the cheapest password hash (these tests are not about hashing).
// The two apps are the two designs of docs/concepts.md, "Goldfish vs long memory".

import { FileDataStore } from "../phase1-mockup/src/domain/file-data-store";
import { MapSessionStore } from "../phase1-mockup/src/sessions/map-session-store";
import { createApp as createStatefulApp } from "../phase1-mockup/src/stateful-server";
import { Phase1AppOptions } from "../phase1-mockup/src/phase1-app";
import { createApp as createStatelessApp } from "../phase1-mockup/src/stateless-server";
import { makeTempDir } from "./temp-dir";

export const TEST_SECRET = "test-secret-of-at-least-thirty-two-characters";

export function phase1Options(overrides: Partial<Phase1AppOptions> = {}): Phase1AppOptions {
  return {
    serverId: "test-instance",
    store: new FileDataStore(makeTempDir("phase1-data")),
    passwordHashCost: 4,
    maxFileBytes: 1048576,
    idSecret: TEST_SECRET,
    ...overrides,
  };
}

export function statelessApp(overrides: Partial<Phase1AppOptions> = {}) {
  return createStatelessApp(phase1Options(overrides));
}

export function statefulApp(overrides: Partial<Phase1AppOptions> & { sessions?: MapSessionStore } = {}) {
  const sessions = overrides.sessions ?? new MapSessionStore(1800);
  return { app: createStatefulApp({ ...phase1Options(overrides), sessions }), sessions };
}

export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}
