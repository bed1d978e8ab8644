// How each design's client proves who it is: the one place in the harness that knows, per
// design, how a user registers, logs in, proves who it is on each request (Basic,
// X-Session-ID, the `sid` cookie or Bearer), reads its session view and logs out, and what
// the design can do. The lab's workload, the bench, the demos and the cluster all go through
// it; adding a design means one entry in CLIENTS plus its server (docs/concepts.md, "Goldfish
// vs long memory"; docs/api-reference.md, "Headers").

import { PHASE1_DESIGNS } from "../phase1-mockup/src/config";
import { PHASE2_DESIGNS } from "../phase2-production/src/operations/config";

/** Every design, in the order of the matrix: the lists the servers themselves accept. */
export const DESIGNS = [...PHASE1_DESIGNS, ...PHASE2_DESIGNS] as const;
export type Design = (typeof DESIGNS)[number];

/** How a request proves who it is. */
type Proof = "basic" | "session-id" | "cookie" | "bearer";

interface DesignClient {
  phase: 1 | 2;
  proof: Proof;
  /** Where a user logs in; none where the credentials go with every request. */
  loginPath?: string;
  /** Where a user logs out; none where there is nothing to end. */
  logoutPath?: string;
  /** GET /api/session answers with the session view (the session designs). */
  sessionView: boolean;
  /** The lab logs a spare login out before the fault and checks after it that it stays refused (every design that can log out). */
  spareProbe: boolean;
  /** Where a logged-in user's session lives (the live view says it on each user's row). */
  sessionsLive: SessionHome;
  /** The session's changing fields kept apart in Redis structures (atomic-session's hash and set). */
  sessionFields?: true;
  /** The bench's textbook peer (scripts/bench/textbook.ts): the app a tutorial would write for the same work. */
  peer?: TextbookPeer;
}

/** The bench's textbook peers, each speaking the login of the design it is named after. */
export const TEXTBOOK_PEERS = ["textbook:memory-session", "textbook:redis-session", "textbook:jwt"] as const;
export type TextbookPeer = (typeof TEXTBOOK_PEERS)[number];

/** none: credentials on every request; memory: the instance that made it; redis; cached: Redis, with a copy in each instance; token: the token itself. */
export type SessionHome = "none" | "memory" | "redis" | "cached" | "token";

/** Every phase-2 design logs in and out at the same paths, and so can have a spare login probed. */
const PHASE2_LOGIN = { phase: 2, loginPath: "/api/login", logoutPath: "/api/logout", spareProbe: true } as const;

const CLIENTS: Record<Design, DesignClient> = {
  stateless: { phase: 1, proof: "basic", sessionView: false, spareProbe: false, sessionsLive: "none" },
  stateful: {
    phase: 1,
    proof: "session-id",
    loginPath: "/api/session/start",
    logoutPath: "/api/session/end",
    sessionView: true,
    spareProbe: true,
    sessionsLive: "memory",
  },
  "memory-session": {
    ...PHASE2_LOGIN,
    proof: "cookie",
    sessionView: true,
    sessionsLive: "memory",
    peer: "textbook:memory-session",
  },
  "redis-session": {
    ...PHASE2_LOGIN,
    proof: "cookie",
    sessionView: true,
    sessionsLive: "redis",
    peer: "textbook:redis-session",
  },
  "cached-session": {
    ...PHASE2_LOGIN,
    proof: "cookie",
    sessionView: true,
    sessionsLive: "cached",
    peer: "textbook:redis-session",
  },
  jwt: { ...PHASE2_LOGIN, proof: "bearer", sessionView: false, sessionsLive: "token", peer: "textbook:jwt" },
  "atomic-session": {
    ...PHASE2_LOGIN,
    proof: "cookie",
    sessionView: true,
    sessionsLive: "redis",
    sessionFields: true,
    peer: "textbook:redis-session",
  },
};

/**
 * The state classes a design keeps (docs/how-the-lab-works.md, "The scenarios"): a fault is
 * described by which of them it keeps and which it loses.
 */
export type StateClass = "sessions" | "session fields" | "deny-list" | "users" | "files";

/** Where one class of a design's state lives: what must survive for it to survive. */
export type StateHome = "instance" | "redis" | "database" | "disk" | "client";

/** Where each state class of a design lives; a class the design does not have is absent. */
export function stateHomes(design: Design): Partial<Record<StateClass, StateHome>> {
  const client = CLIENTS[design];
  const data: StateHome = client.phase === 1 ? "disk" : "database";
  const homes: Partial<Record<StateClass, StateHome>> = { users: data, files: data };
  if (client.sessionsLive === "memory") homes.sessions = "instance";
  if (client.sessionsLive === "redis" || client.sessionsLive === "cached") homes.sessions = "redis";
  if (client.sessionsLive === "token") {
    homes.sessions = "client";
    homes["deny-list"] = "redis";
  }
  if (client.sessionFields) homes["session fields"] = "redis";
  return homes;
}

/** The state classes a design has, in a fixed order. */
export function stateClasses(design: Design): StateClass[] {
  const homes = stateHomes(design);
  return (["sessions", "session fields", "deny-list", "users", "files"] as const).filter(
    (each) => homes[each] !== undefined,
  );
}

/** Where one state class of a design lives. */
export function stateHome(design: Design, stateClass: StateClass): StateHome | undefined {
  return stateHomes(design)[stateClass];
}

/** The name of phase 2's session cookie (express-session's `name`). */
export const SESSION_COOKIE = "sid";

export function isDesign(value: unknown): value is Design {
  return DESIGNS.includes(value as Design);
}

export function isPhase1(design: Design): boolean {
  return CLIENTS[design].phase === 1;
}

/** Whether a user logs in; where not (stateless), the credentials go with every request. */
export function logsIn(design: Design): boolean {
  return CLIENTS[design].loginPath !== undefined;
}

/** Designs with a session view (GET /api/session); stateless and jwt are sessionless. */
export function hasSessionView(design: Design): boolean {
  return CLIENTS[design].sessionView;
}

/** Designs whose users the lab gives a logged-out spare login to try again after the fault. */
export function probesSpareLogin(design: Design): boolean {
  return CLIENTS[design].spareProbe;
}

/** Where a logged-in user's session lives. */
export function sessionHome(design: Design): SessionHome {
  return CLIENTS[design].sessionsLive;
}

/** The bench's textbook peer of a phase-2 design; none for phase 1 (its ceiling is express+data_dir). */
export function textbookPeer(design: Design): TextbookPeer | undefined {
  return CLIENTS[design].peer;
}

/** The design whose login a textbook peer speaks (cookie or token). */
export function peerLogin(peer: TextbookPeer): Design {
  return peer.slice("textbook:".length) as Design;
}

/**
 * Whether the bench measures a design on the Redis Cluster too: where every request's state is
 * in Redis (not memory-session, whose sessions are in the instance, nor cached-session, whose
 * copies are).
 */
export function benchedOnCluster(design: Design): boolean {
  return CLIENTS[design].sessionsLive === "redis" || CLIENTS[design].sessionsLive === "token";
}

/** One request as a client of any transport sends it (the lab's retrying client, fetch, curl). */
export interface DesignRequest {
  method: "GET" | "POST" | "DELETE";
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
}

/** What a client needs of an answer to keep its credentials. */
export interface DesignAnswer {
  status: number;
  body: Record<string, unknown>;
  setCookie?: string[];
}

/** A cookie jar: what a browser would keep of Set-Cookie headers (name and value only). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(setCookie: string[] | undefined): void {
    for (const header of setCookie ?? []) {
      const [pair, ...attributes] = header.split(";");
      const eq = pair.indexOf("=");
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const cleared = attributes.some(
        (attribute) => /^\s*expires=Thu, 01 Jan 1970/i.test(attribute) || /^\s*max-age=0\b/i.test(attribute),
      );
      if (cleared) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1).trim());
    }
  }

  header(): Record<string, string> {
    return this.cookies.size ? { Cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ") } : {};
  }

  clear(name: string): void {
    this.cookies.delete(name);
  }

  /** A copy of every cookie but `except`, with this jar's `except` cookie where it has one. */
  mergedWith(other: CookieJar, except: string): CookieJar {
    const merged = new CookieJar();
    for (const [name, value] of other.cookies) if (name !== except) merged.cookies.set(name, value);
    const own = this.cookies.get(except);
    if (own !== undefined) merged.cookies.set(except, own);
    return merged;
  }
}

/**
 * What one user of one design holds to prove who it is: a cookie jar (the `sid` cookie, and a
 * sticky balancer's cookie, for every design) and the header its design wants on each request.
 */
export class Credentials {
  private jar = new CookieJar();
  private proof: Record<string, string> = {};

  constructor(
    readonly design: Design,
    readonly username: string,
    readonly password: string,
  ) {}

  private get client(): DesignClient {
    return CLIENTS[this.design];
  }

  /** POST /api/users: the same in every design. */
  registerRequest(): DesignRequest {
    return { method: "POST", path: "/api/users", body: { username: this.username, password: this.password } };
  }

  /** The login, or undefined where the credentials go with every request (call accept() then). */
  loginRequest(headers?: Record<string, string>): DesignRequest | undefined {
    const path = this.client.loginPath;
    return path
      ? { method: "POST", path, headers, body: { username: this.username, password: this.password } }
      : undefined;
  }

  /** Keeps what proves who the user is from a login's answer (or, with no login, from the credentials). */
  accept(login?: DesignAnswer): void {
    this.keepCookies(login?.setCookie);
    const body = login?.body ?? {};
    switch (this.client.proof) {
      case "basic":
        this.proof = { Authorization: `Basic ${Buffer.from(`${this.username}:${this.password}`).toString("base64")}` };
        break;
      case "session-id":
        this.proof = { "X-Session-ID": String(body.session_id) };
        break;
      case "bearer":
        this.proof = { Authorization: `Bearer ${String(body.token)}` };
        break;
      case "cookie":
        break; // the jar holds the sid cookie
    }
  }

  /** Every answer's Set-Cookie, as a browser keeps them. */
  keepCookies(setCookie: string[] | undefined): void {
    this.jar.store(setCookie);
  }

  /** The headers that go with every request: the cookies and the design's proof. */
  headers(): Record<string, string> {
    return { ...this.jar.header(), ...this.proof };
  }

  /** After a 401: the session cookie is worthless; the next login sets a new one. */
  forgetSession(): void {
    this.jar.clear(SESSION_COOKIE);
  }

  /** A second login of the same user that keeps the balancer's cookie but not the session. */
  spare(): Credentials {
    const spare = new Credentials(this.design, this.username, this.password);
    spare.followBalancerOf(this);
    return spare;
  }

  /** Takes the balancer's cookies that `other` holds now (a sticky balancer may have moved it), keeping its own session cookie. */
  followBalancerOf(other: Credentials): void {
    this.jar = this.jar.mergedWith(other.jar, SESSION_COOKIE);
  }

  /** Undefined for a sessionless design: the lab's users then skip the session view. */
  sessionViewRequest(): DesignRequest | undefined {
    return this.client.sessionView ? { method: "GET", path: "/api/session", headers: this.headers() } : undefined;
  }

  /** "Does the server know me?": the session view where there is one, else the file list. */
  whoAmIRequest(): DesignRequest {
    return this.sessionViewRequest() ?? { method: "GET", path: "/api/files", headers: this.headers() };
  }

  /** Undefined where there is nothing to end (stateless). */
  logoutRequest(): DesignRequest | undefined {
    const path = this.client.logoutPath;
    return path ? { method: "POST", path, headers: this.headers() } : undefined;
  }
}

/** One request over fetch, for the bench and the demos (the lab's users retry: workbench/http-client.ts). */
export async function fetchAnswer(
  baseUrl: string,
  request: DesignRequest,
  timeoutMs = 5000,
): Promise<DesignAnswer & { servedBy: string | null; headers: Headers }> {
  const response = await fetch(baseUrl + request.path, {
    method: request.method,
    headers: { ...request.headers, ...(request.body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: request.body === undefined ? undefined : JSON.stringify(request.body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text ? JSON.parse(text) : {},
    setCookie: response.headers.getSetCookie(),
    servedBy: response.headers.get("X-Served-By"),
    headers: response.headers,
  };
}

/**
 * The curl lines that log in as a design wants and ask "who am I?", for a person at a
 * terminal (`npm run cluster`). The cookie jar also keeps a sticky balancer's cookie.
 */
export function curlLines(design: Design, url: string, username: string, password: string): string[] {
  const jar = "-c jar.txt -b jar.txt";
  const body = `-H 'Content-Type: application/json' -d '{"username":"${username}","password":"${password}"}'`;
  const whoAmI = hasSessionView(design) ? "/api/session" : "/api/files";
  // One short line per answer, what matters first: "200 from redis-session-2: request_count 3".
  const short = `-o answer.json -w '%{http_code} from %header{x-served-by}: ' ${url}${whoAmI} && node -p "const a = require('./answer.json'); a.error ?? (a.request_count !== undefined ? 'request_count ' + a.request_count : a.files.length + ' file(s)')"`;
  const { loginPath, proof } = CLIENTS[design];
  switch (proof) {
    case "basic":
      return [`curl -s ${jar} -u ${username}:${password} ${short}`];
    case "session-id":
      return [
        `curl -s ${jar} -X POST ${url}${loginPath} ${body}`,
        `curl -s ${jar} -H 'X-Session-ID: <session_id from the line above>' ${short}`,
      ];
    case "bearer":
      return [
        `curl -s ${jar} -X POST ${url}${loginPath} ${body}`,
        `curl -s ${jar} -H 'Authorization: Bearer <token from the line above>' ${short}`,
      ];
    case "cookie":
      return [`curl -s ${jar} -X POST ${url}${loginPath} ${body}`, `curl -s ${jar} ${short}`];
  }
}
