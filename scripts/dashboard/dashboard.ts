// `npm run dashboard -- [--design D] [--lb round-robin|sticky] [--store single|sentinel] [--port P]`:
// the live classroom view (docs/instructor-guide.md, "The 10-minute demo").
// It starts what `npm run cluster` starts plus a few slow virtual users, and serves one page on
// 127.0.0.1 that shows them live and breaks things with a click.
//
// How the page is kept safe and the cluster kept fast:
// - the controls are POSTs that must carry the run's random token (X-Dashboard-Token), and a
//   browser's Origin, when sent, must be the page's own: another site open in the same browser
//   cannot kill processes. A Host that is not 127.0.0.1 or localhost is refused (DNS rebinding);
// - the page, its script and its icon come from this server only (a Content-Security-Policy says so);
// - one server-sent event stream per page, four messages a second; a page that reads slowly is
//   skipped (at most 64 KiB waits for it), so that a slow or closed browser never slows the cluster;
// - Ctrl-C, SIGTERM, SIGHUP and the loss of its parent process stop everything it started.

import { timingSafeEqual, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { AddressInfo } from "node:net";
import path from "node:path";
import { parseOrExit, readArgs, readDesign, readInteger, readStrategy, refuseNativeWindows, UsageError } from "../cli";
import { DESIGNS } from "../designs";
import { stopEverything } from "../processes/managed-process";
import { REPO_ROOT } from "../processes/run-dir";
import { ACTIONS, actionsForPage, findAction } from "./actions";
import { Classroom, defaultStrategy, StoreKind } from "./classroom";

const USAGE = `usage: npm run dashboard -- [--design D] [--lb round-robin|sticky] [--store single|sentinel] [--port P] [--users N] [--pace MS]
  designs: ${DESIGNS.join(", ")} (memory-session when not given)
  --lb     sticky for stateful and memory-session, round-robin for the others, when not given
  --port   4100 when not given; 0 for any free port
  --pace   the pause between a user's requests, in ms (400, a pace a class can follow; the tests run faster)`;

const PAGE_DIR = path.join(REPO_ROOT, "scripts", "dashboard", "page");
const TICK_MS = 250;
const MAX_WAITING_BYTES = 64 * 1024;
const MAX_BODY_BYTES = 4096;
/** The tab's icon, a ⚡ on the palette's blue, served here: a browser asks for one, and a 404 would be a console error. */
const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0072b2"/><path d="M9.5 1 3.5 9h4l-1 6 6-8.5h-4z" fill="#fff"/></svg>`;

interface Client {
  res: http.ServerResponse;
  seq: number;
  hello: boolean;
}

export interface DashboardOptions {
  classroom: Classroom;
  port: number;
  token: string;
}

/** The page, its stream and its controls, over one classroom. Resolves with the listening server. */
export async function serveDashboard({
  classroom,
  port,
  token,
}: DashboardOptions): Promise<{ server: http.Server; url: string; close(): Promise<void> }> {
  const clients = new Set<Client>();
  const page = (name: string) => readFileSync(path.join(PAGE_DIR, name), "utf8");
  let listeningPort = port;

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res
      .writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" })
      .end(JSON.stringify(body));
  };
  const ownHost = (host: string | undefined) =>
    host === `127.0.0.1:${listeningPort}` || host === `localhost:${listeningPort}`;

  const server = http.createServer((req, res) => {
    res.setHeader("X-Content-Type-Options", "nosniff");
    if (!ownHost(req.headers.host))
      return json(res, 403, { error: "forbidden", message: "this page answers only at 127.0.0.1 or localhost" });
    const url = new URL(req.url ?? "/", `http://${req.headers.host}`);
    if (req.method === "GET" && url.pathname === "/") {
      res.writeHead(200, {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        // Nothing but this server: no CDN, no font, no analytics, no inline script.
        "Content-Security-Policy":
          "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
      });
      return void res.end(page("index.html").replace("%%TOKEN%%", token));
    }
    if (req.method === "GET" && (url.pathname === "/dashboard.js" || url.pathname === "/dashboard.css")) {
      res.writeHead(200, {
        "Content-Type": url.pathname.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8",
        "Cache-Control": "no-store",
      });
      return void res.end(page(url.pathname.slice(1)));
    }
    if (req.method === "GET" && (url.pathname === "/favicon.svg" || url.pathname === "/favicon.ico")) {
      res.writeHead(200, { "Content-Type": "image/svg+xml", "Cache-Control": "max-age=86400" });
      return void res.end(FAVICON);
    }
    if (req.method === "GET" && url.pathname === "/events") {
      res.writeHead(200, {
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-store",
        Connection: "keep-alive",
      });
      res.write("retry: 1000\n\n"); // the browser reconnects after 1 s when the stream drops
      const client: Client = { res, seq: 0, hello: true };
      clients.add(client);
      req.on("close", () => clients.delete(client));
      send(client);
      return;
    }
    const action = /^\/actions\/([a-z-]+)$/.exec(url.pathname)?.[1];
    if (url.pathname.startsWith("/actions/")) {
      if (req.method !== "POST")
        return json(res, 405, { error: "method_not_allowed", message: "the controls are POSTs" });
      const sent = req.headers["x-dashboard-token"];
      const origin = req.headers.origin;
      if (typeof sent !== "string" || !sameSecret(sent, token))
        return json(res, 403, {
          error: "forbidden",
          message: "X-Dashboard-Token is missing or wrong: the controls answer only the page this run served",
        });
      if (origin !== undefined && !ownHost(origin.replace(/^http:\/\//, "")))
        return json(res, 403, { error: "forbidden", message: `Origin ${origin} is not this page's own` });
      if (!findAction(action))
        return json(res, 404, {
          error: "unknown_action",
          message: `no action ${JSON.stringify(action ?? url.pathname)}; the actions are ${ACTIONS.map((each) => each.name).join(", ")}`,
        });
      readJson(req).then(
        (body) => {
          const refused = classroom.request(action as string, body);
          if (refused) json(res, refused.status, { error: refused.error, message: refused.message });
          else json(res, 202, { accepted: action });
        },
        (error: Error) => {
          // Too long: answer, then close the connection rather than read the rest.
          if (error instanceof TooLarge) res.setHeader("Connection", "close").once("finish", () => req.destroy());
          json(res, 400, { error: "invalid_body", message: error.message });
        },
      );
      return;
    }
    json(res, 404, { error: "not_found", message: `nothing at ${req.method} ${url.pathname}` });
  });

  /** One message to one page: the state, and the lane entries and sentences it has not had. */
  function send(client: Client): void {
    // A page that is not reading: skip it this time (it catches up by number later).
    if (client.res.writableLength > MAX_WAITING_BYTES) return;
    const news = classroom.since(client.seq);
    const message = {
      hello: client.hello,
      // The controls' table, once per page: it draws its buttons, keys and help from it (actions.ts).
      ...(client.hello && { actions: actionsForPage() }),
      snapshot: classroom.snapshot(),
      lit: news.lit,
      marks: news.marks,
      narration: news.narration,
    };
    client.seq = news.seq;
    client.hello = false;
    client.res.write(`event: tick\ndata: ${JSON.stringify(message)}\n\n`);
  }

  const ticker = setInterval(() => {
    classroom.observe();
    for (const client of clients) send(client);
  }, TICK_MS);
  let reading = false;
  const storeTimer = setInterval(() => {
    if (reading) return;
    reading = true;
    void classroom.readStore().finally(() => (reading = false));
  }, 1000);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  listeningPort = (server.address() as AddressInfo).port;
  return {
    server,
    url: `http://127.0.0.1:${listeningPort}/`,
    async close() {
      clearInterval(ticker);
      clearInterval(storeTimer);
      for (const client of clients) client.res.end();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function sameSecret(sent: string, token: string): boolean {
  const a = Buffer.from(sent);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

class TooLarge extends Error {}

/** A control's JSON body: small, and an object (or nothing). */
function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      text += chunk;
      if (text.length > MAX_BODY_BYTES) {
        req.removeAllListeners("data").removeAllListeners("end");
        reject(new TooLarge(`the body is over ${MAX_BODY_BYTES} bytes`));
      }
    });
    req.on("end", () => {
      if (text.trim() === "") return resolve({});
      try {
        const body = JSON.parse(text);
        if (body === null || typeof body !== "object" || Array.isArray(body))
          return reject(new Error("the body must be a JSON object"));
        resolve(body);
      } catch {
        reject(new Error("the body is not JSON"));
      }
    });
    req.on("error", reject);
  });
}

async function main(): Promise<void> {
  const options = parseOrExit(USAGE, () => {
    const values = readArgs(process.argv.slice(2), ["design", "lb", "store", "port", "users", "pace"]);
    const design = readDesign(values.design ?? "memory-session", true);
    const store = values.store ?? "single";
    if (store !== "single" && store !== "sentinel")
      throw new UsageError(`--store must be single or sentinel (got ${JSON.stringify(store)})`);
    return {
      design,
      lb: values.lb === undefined ? defaultStrategy(design) : readStrategy(values.lb),
      store: store as StoreKind,
      port: readInteger("port", values.port, 4100, 0, 65535),
      users: readInteger("users", values.users, 4, 1, 8),
      paceMs: readInteger("pace", values.pace, 400, 5, 5000),
    };
  });
  refuseNativeWindows("dashboard");
  const classroom = new Classroom({
    design: options.design,
    lb: options.lb,
    store: options.store,
    users: options.users,
    paceMs: options.paceMs,
  });
  let dashboard: Awaited<ReturnType<typeof serveDashboard>> | undefined;
  let stopping = false;
  const stop = (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    console.log(`\ndashboard: ${why}: stopping everything it started`);
    void (async () => {
      await dashboard?.close().catch(() => undefined);
      await classroom.close().catch(() => undefined);
      await stopEverything();
      console.log("dashboard: stopped");
      process.exit(code);
    })();
  };
  process.once("SIGINT", () => stop("Ctrl-C", 130));
  process.once("SIGTERM", () => stop("SIGTERM", 143));
  process.once("SIGHUP", () => stop("the terminal closed", 129));
  // A lost parent (npm, a test, a terminal killed with SIGKILL): we are adopted by another process.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop("its parent process is gone", 1);
  }, 500).unref();

  console.log(
    `dashboard: starting ${options.design} (3 instances) behind the ${options.lb} balancer${options.store === "sentinel" ? " on replicated Redis" : ""}…`,
  );
  await classroom.start();
  const token = randomBytes(24).toString("hex");
  try {
    dashboard = await serveDashboard({ classroom, port: options.port, token });
  } catch (error) {
    const taken = (error as NodeJS.ErrnoException).code === "EADDRINUSE";
    throw new Error(
      taken
        ? `port ${options.port} is taken: choose another with --port P (or --port 0 for any free port)`
        : (error as Error).message,
    );
  }
  for (const line of classroom.describe()) console.log(line);
  console.log(`  balancer             ${classroom.balancerUrl}`);
  console.log(
    `\nOpen ${dashboard.url} in a browser (Chromium, Firefox or Safari). Press ? on the page for the keys. Ctrl-C stops everything.`,
  );
}

if (require.main === module) {
  main().catch((error) => {
    console.error(`dashboard: ${(error as Error).message}`);
    void stopEverything().finally(() => process.exit(1)); // nothing it started may outlive it
  });
}
