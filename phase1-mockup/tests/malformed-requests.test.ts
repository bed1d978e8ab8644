// Requests so malformed that Node refuses them before Express sees them still get a JSON
// error that names the instance, from a real server process (docs/api-reference.md, "Errors").

import net from "node:net";
import { startServer, stopAllServers } from "../../test-support/server-process";
import { makeTempDir, removeTempDirs } from "../../test-support/temp-dir";

afterAll(async () => {
  await stopAllServers();
  removeTempDirs();
});

/** Sends raw bytes and returns the raw answer. */
function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.end(request));
    let answer = "";
    socket.on("data", (chunk) => (answer += chunk));
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
  });
}

describe("requests Node refuses before Express", () => {
  it.each([
    ["headers over 16 KB", `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431],
    ["a request line that is not HTTP", "HELLO THERE\r\n\r\n", 400],
  ])("answers %s with a JSON error naming the instance", async (_what, request, status) => {
    const server = await startServer("stateless", { env: { DATA_DIR: makeTempDir("malformed-data") } });
    const answer = await raw(server.port, request);
    const [head, body] = answer.split("\r\n\r\n");
    expect(head).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
    expect(head).toContain(`X-Served-By: ${server.serverId}`);
    expect(head).toMatch(/X-Request-ID: [0-9a-f-]{36}/);
    expect(JSON.parse(body)).toEqual({
      error: "validation_error",
      message: expect.stringContaining("malformed request"),
    });
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200); // and the server keeps serving
  });
});
