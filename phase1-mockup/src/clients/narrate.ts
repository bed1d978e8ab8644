// A small narrator for the phase-1 walk-throughs: it sends real HTTP requests and prints
// each request and response, with a line of explanation per step, so a student can read the
// conversation between client and server (docs/concepts.md, "Goldfish vs long memory").
// Colour only on a terminal, and never with NO_COLOR set.

import { parseArgs } from "node:util";

const useColour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: string) => (text: string) => (useColour ? `\u001b[${code}m${text}\u001b[0m` : text);
export const bold = paint("1");
export const dim = paint("2");
const green = paint("32");
const red = paint("31");
const cyan = paint("36");
const yellow = paint("33");

const BODY_PREVIEW = 400;
const REQUEST_TIMEOUT_MS = 10_000;

export interface Exchange {
  status: number;
  body: Record<string, unknown>;
  servedBy: string | null;
}

export interface ClientArguments {
  url: string;
}

/** Reads `--url URL` (and `--help`); exits with a usage line on anything else. */
export function readArguments(script: string, defaultUrl: string): ClientArguments {
  const usage = `usage: npm run ${script} -- [--url URL]   (default ${defaultUrl})`;
  try {
    const { values } = parseArgs({ options: { url: { type: "string" }, help: { type: "boolean", short: "h" } } });
    if (values.help) {
      console.log(usage);
      process.exit(0);
    }
    const url = new URL(values.url ?? defaultUrl);
    return { url: url.origin };
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
    process.exit(2);
  }
}

/** Why a request could not be made at all, said for a person rather than as a stack trace. */
function describeNetworkError(error: unknown, baseUrl: string, serverScript: string): string {
  const cause = (error as { cause?: { code?: string } })?.cause;
  if (cause?.code === "ECONNREFUSED") {
    const design = serverScript === "server:stateless" ? "stateless" : "stateful";
    return `No server is listening at ${baseUrl}. Start one in another terminal first: ${restartCommand(baseUrl, design)}`;
  }
  if ((error as Error)?.name === "TimeoutError") {
    return `The server at ${baseUrl} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s.`;
  }
  return `Could not reach ${baseUrl}: ${cause?.code ?? (error as Error)?.message ?? String(error)}`;
}

function preview(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > BODY_PREVIEW ? `${text.slice(0, BODY_PREVIEW)}… (${text.length} characters)` : text;
}

export class Narrator {
  private stepNumber = 0;
  requests = 0;

  constructor(
    readonly baseUrl: string,
    private readonly serverScript: string,
  ) {}

  title(text: string, subtitle: string): void {
    console.log(`\n${bold(text)}\n${dim(subtitle)}`);
  }

  step(heading: string, explanation: string): void {
    this.stepNumber += 1;
    console.log(`\n${bold(cyan(`Step ${this.stepNumber}. ${heading}`))}\n${explanation}`);
  }

  note(text: string): void {
    console.log(`  ${yellow("→")} ${text}`);
  }

  /** Sends one request, prints both halves of the exchange, and returns the answer. */
  async send(
    method: string,
    path: string,
    options: { headers?: Record<string, string>; body?: unknown; headerNotes?: Record<string, string> } = {},
  ): Promise<Exchange> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    console.log(`  ${bold(`> ${method} ${path}`)}`);
    for (const [name, value] of Object.entries(headers)) {
      const note = options.headerNotes?.[name];
      console.log(`  > ${name}: ${value}${note ? dim(`   (${note})`) : ""}`);
    }
    if (options.body !== undefined) console.log(`  > ${preview(options.body)}`);

    const started = performance.now();
    let response: Response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      console.error(`\n${red(describeNetworkError(error, this.baseUrl, this.serverScript))}`);
      process.exit(1);
    }
    this.requests += 1;
    const milliseconds = Math.round(performance.now() - started);
    const text = await response.text();
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text);
    } catch {
      body = { text };
    }
    const servedBy = response.headers.get("X-Served-By");
    const colour = response.ok ? green : red;
    console.log(
      `  ${colour(`< ${response.status} ${response.statusText}`)} ${dim(`(${milliseconds} ms${servedBy ? `, served by ${servedBy}` : ""})`)}`,
    );
    const challenge = response.headers.get("WWW-Authenticate");
    if (challenge) console.log(`  < WWW-Authenticate: ${challenge}`);
    console.log(`  < ${preview(body)}`);
    return { status: response.status, body, servedBy };
  }

  /** Every walk-through's first step: a health check, and a warning when the server runs another design. */
  async checkServer(design: "stateless" | "stateful"): Promise<void> {
    this.step("Who is there?", "A health check needs no identity at all.");
    const health = await this.send("GET", "/health");
    this.expect(health, 200, "GET /health");
    if (health.body.design !== design)
      this.note(`This server's design is ${String(health.body.design)}, not ${design}: expect surprises.`);
  }

  /** The same registration in both designs; `why` says what it means in this one. */
  async register(username: string, password: string, why: string): Promise<void> {
    this.step("Register", why);
    this.expect(await this.send("POST", "/api/users", { body: { username, password } }), 201, "registration");
  }

  /** Stops the walk-through when the server answers something the script did not expect. */
  expect(exchange: Exchange, status: number, what: string): void {
    if (exchange.status === status) return;
    console.error(
      `\n${red(`Expected ${status} for ${what}, got ${exchange.status}.`)} Is ${this.baseUrl} the right server?`,
    );
    process.exit(1);
  }
}

/** A fresh name each run, so the walk-through never meets 409 user_exists. */
export function freshUsername(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}

/** How to start that server again on the same port: `PORT=4151 npm run server:stateful` when it is not the default. */
export function restartCommand(url: string, design: "stateless" | "stateful"): string {
  const port = new URL(url).port;
  const standard = design === "stateless" ? "3000" : "3001";
  return `${port && port !== standard ? `PORT=${port} ` : ""}npm run server:${design}`;
}
