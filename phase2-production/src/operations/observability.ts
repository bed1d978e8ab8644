// What an operator sees of a phase-2 instance: logs that carry the request id (pino: JSON in a
// file or pipe, lines for humans on a terminal),
// and /metrics in Prometheus text format (prom-client): requests by route and status,
// sessions created, store errors and Redis command latency (docs/transition-to-phase2.md,
// "Metrics"). One registry per app, so that two apps in one test process do not collide.
// Operations code, not the lesson: a student reading phase 2's designs may skip this file.

import { RequestHandler } from "express";
import pino, { Logger } from "pino";
import type Pretty from "pino-pretty";
import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";
import { LogLevel } from "../../../phase1-mockup/src/config";

export class LabMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "lab_http_requests_total",
    help: "HTTP requests answered, by method, route and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [this.registry],
  });
  readonly sessionsCreated = new Counter({
    name: "lab_sessions_created_total",
    help: "Sessions (or tokens, for jwt) created by a successful login",
    registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: "lab_store_errors_total",
    help: "Requests answered 503 store_unavailable because Redis could not serve them",
    registers: [this.registry],
  });
  readonly redisCommands = new Histogram({
    name: "lab_redis_command_duration_seconds",
    help: "Redis command latency, by command and outcome",
    labelNames: ["command", "outcome"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  constructor(design: string, serverId: string) {
    this.registry.setDefaultLabels({ design, server_id: serverId });
    collectDefaultMetrics({ register: this.registry }); // process RSS, heap, event-loop lag
  }

  /** Counts each request once it is answered, labelled by its route pattern (not its raw URL). */
  middleware(): RequestHandler {
    // One child counter per label set, found by a string key: prom-client would otherwise hash
    // the label object on every request (the benchmark's profile showed it).
    const counters = new Map<string, { inc: () => void }>();
    return (req, res, next) => {
      res.on("finish", () => {
        // Refused before any route matched (Redis down, no session): say so rather than "unmatched".
        const route = req.route?.path
          ? `${req.baseUrl}${String(req.route.path)}`
          : res.statusCode === 404
            ? "unmatched"
            : "(refused before routing)";
        const key = `${req.method} ${route} ${res.statusCode}`;
        let counter = counters.get(key);
        if (!counter) {
          counter = this.requests.labels(req.method, route, String(res.statusCode));
          counters.set(key, counter);
        }
        counter.inc();
      });
      next();
    };
  }

  /** One child histogram per command and outcome, found by a string key (as the request counter's). */
  private readonly commandHistograms = new Map<string, { observe: (seconds: number) => void }>();

  observeRedisCommand(name: string, seconds: number, ok: boolean): void {
    const outcome = ok ? "ok" : "error";
    const key = `${name} ${outcome}`;
    let histogram = this.commandHistograms.get(key);
    if (!histogram) {
      histogram = this.redisCommands.labels(name, outcome);
      this.commandHistograms.set(key, histogram);
    }
    histogram.observe(seconds);
  }
}

export function createLogger(level: LogLevel, bindings: Record<string, string>): Logger {
  const base = { ...bindings, pid: process.pid };
  // A person at a terminal reads lines ("12:03:04 INFO (redis-session-4000): request completed"),
  // a file or a pipe gets JSON, one object per line, for tools. (pino-pretty as a stream in
  // this thread: no worker thread to stop at exit.)
  if (process.stdout.isTTY && !process.env.LOG_JSON) {
    const messageFormat = (log: Record<string, unknown>) => {
      const req = log.req as { method?: string; url?: string } | undefined;
      const res = log.res as { status?: number } | undefined;
      return req ? `${req.method} ${req.url} -> ${res?.status} in ${log.responseTime} ms` : String(log.msg);
    };
    // Loaded only here: a server whose output is a file (every server the lab starts) never
    // needs it, and it adds about 15 ms of CPU to a start.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS, loaded on first use
    const pretty = require("pino-pretty") as typeof Pretty;
    return pino(
      { level, base },
      pretty({
        colorize: !process.env.NO_COLOR,
        translateTime: "SYS:HH:MM:ss.l",
        ignore: "pid,hostname,design,server_id,req,res,responseTime",
        singleLine: true,
        messageFormat,
      }),
    );
  }
  // Asynchronous writes: a request never waits for its log line to reach the terminal or file.
  return pino({ level, base }, pino.destination({ sync: false }));
}

/**
 * One JSON line per request, with the request id that the response carries in X-Request-ID:
 * info for a success, warn for a 4xx, error for a 5xx. Written by hand over pino rather than
 * with pino-http, which builds a child logger for every request: the profile of the benchmark
 * showed it among the top costs of a read, even with the log level above info.
 */
export function requestLogging(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const level = res.statusCode >= 500 ? "error" : res.statusCode >= 400 ? "warn" : "info";
      if (!logger.isLevelEnabled(level)) return;
      const responseTime = Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10;
      logger[level](
        {
          req: { id: res.getHeader("X-Request-ID"), method: req.method, url: req.originalUrl },
          res: { status: res.statusCode },
          responseTime,
        },
        "request completed",
      );
    });
    next();
  };
}
