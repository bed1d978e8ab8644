// The process side of every server: read the configuration, listen, say where, and shut down
// gracefully (docs/transition-to-phase2.md, "Graceful shutdown"). Kept apart from the apps,
// so that tests drive an app with supertest and the lab drives the real process with real
// signals (docs/how-the-lab-works.md, "Processes and clean-up").

import { randomUUID } from "node:crypto";
import http from "node:http";
import { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { Express } from "express";
import { CommonConfig, ConfigError, Env } from "../config";
import { Lifecycle, newLifecycle } from "./app-basics";

const DRAIN_LIMIT_MS = 10_000;
/** A slow client gets 10 s for its headers and 30 s for the whole request (Node: 60 s and 300 s). */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;

export interface RunningApp {
  app: Express;
  /** Releases what the app holds (timers, store connections) once the server has closed. */
  close?: () => Promise<void>;
}

export interface ServeOptions<C extends CommonConfig> {
  design: string;
  loadConfig: (env: Env) => C;
  /** Builds the app once the port is known, so that SERVER_ID's default names the real port. */
  createApp: (config: C, lifecycle: Lifecycle) => RunningApp | Promise<RunningApp>;
}

/** What a spawned server tells its parent over IPC once it listens (tests and the lab use it). */
export interface ListeningMessage {
  type: "listening";
  design: string;
  serverId: string;
  port: number;
  pid: number;
}

function say(config: CommonConfig, line: string): void {
  if (["info", "debug", "trace"].includes(config.logLevel)) console.log(line);
}

/** Loads the configuration or stops the process with one line naming the bad variable. */
export function loadConfigOrExit<C>(design: string, loadConfig: (env: Env) => C): C {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${design}: configuration error: ${error.message}`);
    process.exit(1);
  }
}

export function serve<C extends CommonConfig>(options: ServeOptions<C>): void {
  const config = loadConfigOrExit(options.design, options.loadConfig);
  const lifecycle = newLifecycle();
  const inFlight = new Set<http.ServerResponse>();
  // Host is checked by the app, so that its absence gets the JSON 400 of every other malformed request.
  // The timeouts below are checked every second (Node's default: every 30 s).
  const server = http.createServer({ requireHostHeader: false, connectionsCheckingInterval: 1000 });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  let running: RunningApp | undefined;

  server.on("error", (error: NodeJS.ErrnoException) => {
    const reason =
      error.code === "EADDRINUSE"
        ? `port ${config.port} is already in use: stop the other server, or set PORT to another port`
        : error.code === "ENOTFOUND" || error.code === "EADDRNOTAVAIL"
          ? `configuration error: HOST ${JSON.stringify(config.host)} is not an address of this machine (${error.code})`
          : `cannot listen on ${config.host}:${config.port}: ${error.message}`;
    console.error(`${options.design}: ${reason}`);
    process.exit(1);
  });

  // The app is built once the server listens (below): a request that arrives in between (a
  // balancer's health check, a student's curl loop) waits for it, a few milliseconds, instead of
  // meeting a server with no handler, which would hold it unanswered until requestTimeout.
  let appBuilt: () => void = () => undefined;
  const built = new Promise<void>((resolve) => (appBuilt = resolve));
  server.on("request", (req, res) => {
    inFlight.add(res);
    res.on("close", () => inFlight.delete(res));
    if (running) return running.app(req, res);
    void built.then(() => running?.app(req, res));
  });

  server.listen(config.port, config.host, async () => {
    const { port } = server.address() as AddressInfo;
    const serverId = process.env.SERVER_ID || `${options.design}-${port}`;
    try {
      running = await options.createApp({ ...config, port, serverId }, lifecycle);
    } catch (error) {
      // For instance a DATA_DIR that cannot be created: one line, not a stack trace.
      console.error(`${options.design}: cannot start: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    }
    appBuilt();
    if (config.usingDevelopmentSecret) {
      console.warn(
        `${options.design}: SESSION_SECRET is not set; using the fixed development value (never do that in production)`,
      );
    }
    say(
      config,
      `[${serverId}] ${options.design} server listening on http://${config.host}:${port} (pid ${process.pid})`,
    );
    const message: ListeningMessage = { type: "listening", design: options.design, serverId, port, pid: process.pid };
    process.send?.(message);
  });

  // On SIGTERM, SIGINT, or the parent's IPC channel closing (the lab that started us is gone):
  // /ready turns 503, the server stops accepting, in-flight requests are answered with
  // `Connection: close`, idle keep-alive connections are closed at once (without that, Node's
  // server.close() waits for every keep-alive client), and the process exits 0.
  const shutdown = (reason: string) => {
    if (lifecycle.draining) return;
    lifecycle.draining = true;
    say(config, `[${options.design}] ${reason}: draining ${inFlight.size} in-flight request(s), then exiting`);
    const deadline = setTimeout(() => {
      console.error(`[${options.design}] requests still running after ${DRAIN_LIMIT_MS / 1000} s: closing them`);
      server.closeAllConnections();
      process.exit(0); // the drain is bounded (10 s), and the exit is still a clean one
    }, DRAIN_LIMIT_MS);
    deadline.unref();
    for (const res of inFlight) if (!res.headersSent) res.setHeader("Connection", "close");
    server.close(async () => {
      await running?.close?.();
      clearTimeout(deadline);
      say(config, `[${options.design}] stopped`);
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  // Requests Node rejects before Express sees them (headers over 16 KB, a Content-Length that
  // lies): still a JSON error that names the instance.
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    const serverId =
      process.env.SERVER_ID || `${options.design}-${(server.address() as AddressInfo | null)?.port ?? config.port}`;
    answerClientError(error, socket, () => "validation_error", { "X-Served-By": serverId });
  });
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
  // Started by the lab with an IPC channel: when the lab dies, the channel closes and we go too.
  if (process.connected) process.once("disconnect", () => shutdown("parent process gone"));
}

/**
 * Answers a request that Node refused before any handler saw it with a JSON error, and closes
 * the connection: 431 for headers over 16 KB, 408 for a client too slow, 400 for the rest.
 * `code` names the error for a status (the servers say validation_error; the built-in balancer
 * has codes of its own); `headers` go before X-Request-ID.
 */
export function answerClientError(
  error: NodeJS.ErrnoException,
  socket: Duplex,
  code: (status: number) => string,
  headers: Record<string, string>,
): void {
  // An answer already on its way (a 401 sent while the client still trickles its body): no second one.
  const answering = (socket as { _httpMessage?: http.ServerResponse })._httpMessage;
  if (!socket.writable || answering?.headersSent) return void socket.destroy();
  const [status, text] =
    error.code === "HPE_HEADER_OVERFLOW"
      ? [431, "Request Header Fields Too Large"]
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "Request Timeout"]
        : [400, "Bad Request"];
  const body = JSON.stringify({ error: code(status), message: `malformed request: ${error.code ?? error.message}` });
  const head = Object.entries({ ...headers, "X-Request-ID": randomUUID() })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `${head}Connection: close\r\n\r\n${body}`,
  );
}
