// The phase-2 server as a real process: its configuration errors, and its graceful shutdown
// on SIGTERM during a slow request (docs/transition-to-phase2.md, "Graceful shutdown").

import http from "node:http";
import { freeLoopbackPort, registerAndLogIn, untilReady } from "../../test-support/http";
import { runScript, serverArguments, startServer } from "../../test-support/server-process";
import { freshDatabase, useStores } from "../../test-support/phase2-apps";

const redisProcess = useStores();

describe("starting the phase-2 server with bad configuration", () => {
  const [script] = serverArguments("redis-session");
  it.each([
    ["no --design", [], {}, "--design"],
    ["an unknown design", ["--design", "magic"], {}, "--design"],
    [
      "NODE_ENV=production and no SESSION_SECRET",
      ["--design", "redis-session"],
      { NODE_ENV: "production", SESSION_SECRET: "" },
      "SESSION_SECRET is required",
    ],
    [
      "a short SESSION_SECRET",
      ["--design", "jwt"],
      { SESSION_SECRET: "short" },
      "SESSION_SECRET must have at least 32 characters",
    ],
    ["a REDIS_URL that is not a URL", ["--design", "jwt"], { REDIS_URL: "localhost:6379" }, "REDIS_URL"],
    [
      "a bad RATE_LIMIT_PER_MINUTE",
      ["--design", "redis-session"],
      { RATE_LIMIT_PER_MINUTE: "lots" },
      "RATE_LIMIT_PER_MINUTE",
    ],
    [
      "jwt with no SESSION_SECRET (the public development value would sign forgeable tokens)",
      ["--design", "jwt"],
      { SESSION_SECRET: "" },
      "SESSION_SECRET is required for jwt",
    ],
    [
      "jwt with the public development value given as SESSION_SECRET",
      ["--design", "jwt"],
      { SESSION_SECRET: "lab-development-secret-change-me-in-production" },
      "SESSION_SECRET is required for jwt",
    ],
    ["a bad MAX_FILES_PER_USER", ["--design", "redis-session"], { MAX_FILES_PER_USER: "0" }, "MAX_FILES_PER_USER"],
    ["a bad MAX_BYTES_PER_USER", ["--design", "redis-session"], { MAX_BYTES_PER_USER: "lots" }, "MAX_BYTES_PER_USER"],
    ["a bad COOKIE_SECURE", ["--design", "redis-session"], { COOKIE_SECURE: "yes" }, "COOKIE_SECURE"],
    ["an empty REDIS_SENTINELS", ["--design", "redis-session"], { REDIS_SENTINELS: "" }, "REDIS_SENTINELS"],
    [
      "a REDIS_SENTINELS entry with no port",
      ["--design", "redis-session"],
      { REDIS_SENTINELS: "127.0.0.1" },
      "REDIS_SENTINELS",
    ],
    [
      "a REDIS_SENTINELS entry with three parts",
      ["--design", "redis-session"],
      { REDIS_SENTINELS: "127.0.0.1:26379:x" },
      "REDIS_SENTINELS",
    ],
    ["a REDIS_SENTINELS port 0", ["--design", "redis-session"], { REDIS_SENTINELS: "127.0.0.1:0" }, "REDIS_SENTINELS"],
    [
      "a REDIS_SENTINELS port 70000",
      ["--design", "redis-session"],
      { REDIS_SENTINELS: "127.0.0.1:26379,127.0.0.1:70000" },
      "REDIS_SENTINELS",
    ],
    [
      "a REDIS_MASTER_NAME with a space",
      ["--design", "redis-session"],
      { REDIS_MASTER_NAME: "my lab" },
      "REDIS_MASTER_NAME",
    ],
    [
      "a bad REDIS_FAILOVER_DETECTOR",
      ["--design", "redis-session"],
      { REDIS_FAILOVER_DETECTOR: "maybe" },
      "REDIS_FAILOVER_DETECTOR",
    ],
    [
      "a negative REDIS_WAIT_REPLICAS",
      ["--design", "redis-session"],
      { REDIS_WAIT_REPLICAS: "-1" },
      "REDIS_WAIT_REPLICAS",
    ],
    ["a REDIS_WAIT_MS of 0", ["--design", "redis-session"], { REDIS_WAIT_MS: "0" }, "REDIS_WAIT_MS"],
    ["a JWT_MAX_AGE that is not a number", ["--design", "redis-session"], { JWT_MAX_AGE: "a year" }, "JWT_MAX_AGE"],
    ["no DATABASE_URL", ["--design", "memory-session"], { DATABASE_URL: "" }, "DATABASE_URL must be set"],
    [
      "a DATABASE_URL that is not postgres://",
      ["--design", "redis-session"],
      { DATABASE_URL: "mysql://x/y" },
      "DATABASE_URL",
    ],
    [
      "a DATABASE_URL without a database",
      ["--design", "redis-session"],
      { DATABASE_URL: "postgres://lab:secret@127.0.0.1:5432" },
      "DATABASE_URL",
    ],
    ["a TRUST_PROXY_HOPS of -1", ["--design", "redis-session"], { TRUST_PROXY_HOPS: "-1" }, "TRUST_PROXY_HOPS"],
    ["a TRUST_PROXY_HOPS of all", ["--design", "redis-session"], { TRUST_PROXY_HOPS: "all" }, "TRUST_PROXY_HOPS"],
    ["an ALLOWED_HOSTS with a slash", ["--design", "redis-session"], { ALLOWED_HOSTS: "evil/x" }, "ALLOWED_HOSTS"],
    ["an ALLOWED_HOSTS with an empty entry", ["--design", "redis-session"], { ALLOWED_HOSTS: "a,,b" }, "ALLOWED_HOSTS"],
    [
      "a RATE_LIMIT_PER_ACCOUNT_PER_MINUTE of 0",
      ["--design", "redis-session"],
      { RATE_LIMIT_PER_ACCOUNT_PER_MINUTE: "0" },
      "RATE_LIMIT_PER_ACCOUNT_PER_MINUTE",
    ],
  ])("stops with exit code 1 and one line, given %s", async (_what, args, env, expected) => {
    // A well-formed DATABASE_URL unless the row says otherwise: each row is about its own variable.
    const result = await runScript(script, args, { PORT: "0", DATABASE_URL: "postgres://lab@127.0.0.1:1/lab", ...env });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(expected);
  });
});

describe("graceful shutdown of a phase-2 server", () => {
  it("finishes a slow in-flight request, refuses new connections, and exits 0", async () => {
    const server = await startServer("redis-session", {
      env: { REDIS_URL: redisProcess().url, DATABASE_URL: await freshDatabase(), KEY_PREFIX: "drain:" },
    });
    await untilReady(server);
    const cookie = await registerAndLogIn(server, "quentin");

    const body = JSON.stringify({ filename: "slow.txt", content: "arrives during the drain" });
    let answered: (value: { status: number; connection?: string }) => void = () => undefined;
    const answer = new Promise<{ status: number; connection?: string }>((resolve) => (answered = resolve));
    const req = http.request(`${server.url}/api/upload`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), Cookie: cookie },
    });
    req.on("response", (response) => {
      response.resume();
      response.on("end", () => answered({ status: response.statusCode ?? 0, connection: response.headers.connection }));
    });
    req.on("error", (error) => answered({ status: -1, connection: error.message }));
    req.write(body.slice(0, 5)); // the request is in flight: its body is still arriving
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.kill(server.pid, "SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 300));
    // While draining, the server no longer accepts connections...
    const refused = await fetch(`${server.url}/health`).then(
      () => "accepted",
      () => "refused",
    );
    req.end(body.slice(5)); // ...but the request already in flight completes.
    expect(refused).toBe("refused");
    expect(await answer).toEqual({ status: 201, connection: "close" });
    expect(await server.exited).toBe(0);
  });
});

describe("a phase-2 server starting", () => {
  it("answers every request that reaches it while it builds its app, none left hanging", async () => {
    // A port known before the start, so that requests can knock from the first moment: the
    // server listens before its app is built, and a request that arrived in between was once
    // held unanswered until the 30 s request timeout (a balancer's health check, a curl loop).
    const port = await freeLoopbackPort();
    const outcomes: string[] = [];
    let knocking = true;
    // Four at a time, each with a 2 s limit: refused before the listen, answered after it.
    const knock = async () => {
      while (knocking) {
        outcomes.push(
          await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) }).then(
            async (response) => (await response.arrayBuffer(), `answered ${response.status}`),
            (error: Error) => (error.name === "TimeoutError" ? "hung" : "refused"),
          ),
        );
      }
    };
    const knockers = Array.from({ length: 4 }, knock);
    const server = await startServer("redis-session", {
      port,
      env: { REDIS_URL: redisProcess().url, DATABASE_URL: await freshDatabase(), KEY_PREFIX: "start:" },
    });
    await untilReady(server);
    knocking = false;
    await Promise.all(knockers);
    expect(outcomes).not.toContain("hung");
    expect(outcomes).toContain("answered 200");
  });
});
