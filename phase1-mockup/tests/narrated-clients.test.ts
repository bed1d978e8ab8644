// The narrated clients: each runs its whole walk-through against a real server and prints
// the conversation; with no server listening, each says so in one line, not a stack trace.
// The walk-throughs are read in docs/concepts.md ("Goldfish vs long memory").

import net from "node:net";
import { compiled, runScript, startServer, stopAllServers } from "../../test-support/server-process";
import { makeTempDir, removeTempDirs } from "../../test-support/temp-dir";

afterAll(async () => {
  await stopAllServers();
  removeTempDirs();
});

const NO_COLOUR = { NO_COLOR: "1" };

/** Runs a design's walk-through against a fresh server of that design; it must end cleanly. */
async function walkThrough(design: "stateless" | "stateful") {
  const server = await startServer(design, { env: { DATA_DIR: makeTempDir("client-data") } });
  const result = await runScript(compiled(`clients/${design}-client.js`), ["--url", server.url], NO_COLOUR);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return { server, result };
}

describe("the narrated clients", () => {
  it("walks through the goldfish conversation, credentials on every request", async () => {
    const { server, result } = await walkThrough("stateless");
    expect(result.stdout).toContain("The goldfish");
    expect(result.stdout.match(/> Authorization: Basic /g)?.length).toBe(5); // upload, list, read, delete, kept.txt
    // The restart hint starts the server again on the port it runs on, and the check shows the status.
    expect(result.stdout).toContain(`PORT=${new URL(server.url).port} npm run server:stateless`);
    expect(result.stdout).toMatch(/curl -i -u '[a-z0-9_-]+:[^']+' http/);
    expect(result.stdout).toContain("< 401 Unauthorized");
    expect(result.stdout).toContain("missing_credentials");
    expect(result.stdout).toContain(`served by ${server.serverId}`);
    expect(result.stdout).toContain("What to notice");
  });

  it("walks through the long-memory conversation, a session id after one login", async () => {
    const { server, result } = await walkThrough("stateful");
    expect(result.stdout).toContain("The long memory");
    expect(result.stdout).not.toContain("Authorization: Basic");
    expect(result.stdout.match(/> X-Session-ID: /g)?.length).toBeGreaterThanOrEqual(8);
    expect(result.stdout).toContain('"request_count":');
    expect(result.stdout).toContain("session_not_found");
    expect(result.stdout).toMatch(/curl -i -H 'X-Session-ID: [A-Za-z0-9_-]{43}'/);
    expect(result.stdout).toContain(`PORT=${new URL(server.url).port} npm run server:stateful`);
  });

  it.each(["stateless", "stateful"])("says plainly that no %s server is listening", async (design) => {
    const port = await unusedPort();
    const result = await runScript(
      compiled(`clients/${design}-client.js`),
      ["--url", `http://127.0.0.1:${port}`],
      NO_COLOUR,
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `No server is listening at http://127.0.0.1:${port}. Start one in another terminal first: PORT=${port} npm run server:${design}`,
    );
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("explains its usage when given a bad URL", async () => {
    const result = await runScript(compiled("clients/stateful-client.js"), ["--url", "not a url"], NO_COLOUR);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("usage: npm run client:stateful -- [--url URL]");
  });
});

/** A loopback port that was free a moment ago: bound, read, released. */
function unusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
    probe.on("error", reject);
  });
}
