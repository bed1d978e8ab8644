// Throw-away directories for tests: each test file gets its own DATA_DIR, removed afterwards,
// so tests never share data and pass when run twice in a row. Plumbing, not a lesson: the
// tests that use it are cited in docs/concepts.md.

import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const made: string[] = [];

export function makeTempDir(label = "lab-test"): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${label}-`));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
