// Configuration: a bad value stops the process at start with exit code 1 and one line that
// names the variable; good values and defaults are read as docs/api-reference.md
// ("Environment variables") lists them.

import { writeFileSync } from "node:fs";
import path from "node:path";
import { ConfigError, DEVELOPMENT_SECRET, loadPhase1Config } from "../src/config";
import { compiled, runScript, startServer, stopAllServers } from "../../test-support/server-process";
import { makeTempDir, removeTempDirs } from "../../test-support/temp-dir";

afterAll(async () => {
  await stopAllServers();
  removeTempDirs();
});

describe("loading the configuration", () => {
  it("uses the documented defaults", () => {
    const config = loadPhase1Config({}, "stateful");
    expect(config).toMatchObject({
      port: 3001,
      host: "127.0.0.1",
      serverId: "stateful-3001",
      sessionSecret: DEVELOPMENT_SECRET,
      usingDevelopmentSecret: true,
      sessionTtlSeconds: 1800,
      maxFileBytes: 1048576,
      passwordHashCost: 14,
      logLevel: "info",
      dataDir: path.resolve("data/phase1"),
    });
    expect(loadPhase1Config({}, "stateless").port).toBe(3000);
  });

  it.each([
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["PORT", "-1"],
    ["PORT", "3.5"],
    ["SESSION_TTL_SECONDS", "0"],
    ["SESSION_TTL_SECONDS", "ten"],
    ["MAX_FILE_BYTES", "1e6"],
    ["PASSWORD_HASH_COST", "3"],
    ["PASSWORD_HASH_COST", "15"],
    ["LOG_LEVEL", "loud"],
    ["SESSION_SECRET", "too-short"],
    ["DATA_DIR", "/proc/nope"], // a kernel file system: Node's recursive mkdir would spin there forever
  ])("refuses %s=%s, naming the variable", (variable, value) => {
    expect(() => loadPhase1Config({ [variable]: value }, "stateless")).toThrow(ConfigError);
    expect(() => loadPhase1Config({ [variable]: value }, "stateless")).toThrow(new RegExp(`^${variable} `));
  });

  it("requires SESSION_SECRET in production", () => {
    expect(() => loadPhase1Config({ NODE_ENV: "production" }, "stateful")).toThrow(/^SESSION_SECRET is required/);
    const secret = "s".repeat(32);
    expect(loadPhase1Config({ NODE_ENV: "production", SESSION_SECRET: secret }, "stateful").sessionSecret).toBe(secret);
  });
});

describe("a server started with a bad variable", () => {
  it.each([
    ["stateless", "PORT", "not-a-port"],
    ["stateful", "PORT", "99999"],
    ["stateful", "SESSION_TTL_SECONDS", "forever"],
  ])("%s with %s=%s exits 1 with one line naming it", async (design, variable, value) => {
    const result = await runScript(compiled(`${design}-server.js`), [], {
      [variable]: value,
      DATA_DIR: makeTempDir("config-data"),
    });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
    expect(lines[0]).toContain(JSON.stringify(value));
    expect(result.stdout).toBe("");
  });

  it("exits 1 with one line naming DATA_DIR when it cannot be created", async () => {
    const blocker = path.join(makeTempDir("config-data"), "a-file");
    writeFileSync(blocker, "not a directory");
    const result = await runScript(compiled("stateful-server.js"), [], {
      PORT: "0",
      SESSION_SECRET: "x".repeat(32),
      DATA_DIR: path.join(blocker, "data"),
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/^stateful: cannot start: DATA_DIR cannot be used: .*ENOTDIR/),
    ]);
  });

  it("exits 1 with one line when the port is taken", async () => {
    const server = await startServer("stateless", { env: { DATA_DIR: makeTempDir("config-data") } });
    const result = await runScript(compiled("stateless-server.js"), [], {
      PORT: String(server.port),
      SESSION_SECRET: "x".repeat(32),
      DATA_DIR: makeTempDir("config-data"),
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split("\n")).toEqual([
      expect.stringContaining(`port ${server.port} is already in use`),
    ]);
  });
});
