// An older Node than package.json's "engines" allows stops every npm script with one line
// (scripts/require-node.js), instead of a TypeScript or dependency error that never names the
// version. Checked by running the guard against a package.json that asks for a future Node.

import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../processes/run-dir";
import { makeTempDir, removeTempDirs } from "../../test-support/temp-dir";

afterAll(removeTempDirs);

function guardWith(engines: string) {
  const root = makeTempDir("engines");
  mkdirSync(path.join(root, "scripts"));
  copyFileSync(path.join(REPO_ROOT, "scripts", "require-node.js"), path.join(root, "scripts", "require-node.js"));
  writeFileSync(path.join(root, "package.json"), JSON.stringify({ engines: { node: engines } }));
  return spawnSync(process.execPath, [path.join(root, "scripts", "require-node.js")], { encoding: "utf8" });
}

describe("the Node version guard", () => {
  it("stops with exit code 1 and one line naming the versions when Node is older than engines allows", () => {
    const run = guardWith(">=99");
    expect(run.status).toBe(1);
    const lines = run.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`This lab needs Node.js 99 or newer, and this is Node ${process.versions.node}`);
  });

  it("says nothing and lets the script go on when Node is new enough", () => {
    const run = guardWith(">=20");
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
  });

  it("guards every npm script that runs the lab's code", () => {
    const scripts: Record<string, string> = JSON.parse(
      readFileSync(path.join(REPO_ROOT, "package.json"), "utf8"),
    ).scripts;
    const unguarded = Object.entries(scripts).filter(
      ([name, command]) => name !== "setup" && !command.startsWith("node scripts/require-node.js && "),
    );
    expect(unguarded).toEqual([]);
  });
});
