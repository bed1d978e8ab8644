// The workload: what the virtual users do (docs/how-the-lab-works.md, "The workload"). Each
// registers, logs in (or, for stateless, just uses its credentials), then loops: upload a
// file, read its session view (session designs), list its files. Every operation goes into
// the history. The lab strikes only once every user is set up (waitForSetup): a cell never
// runs short-handed.

import http from "node:http";
import { Credentials, Design, DesignAnswer, DesignRequest } from "../designs";
import { History, Operation, OperationName } from "./history";
import { OPERATION_DEADLINE_MS, Outcome, seededRandom, send } from "./http-client";

export interface WorkloadOptions {
  design: Design;
  url: string; // the balancer, or the one instance
  users: number;
  seed: number;
  concurrent: boolean; // 10 uploads at once per loop, each on its own connection
  tag: string; // short, unique per cell ("cell5"): user names ("user0-cell5", at most 32 characters) and idempotency keys
  clock: () => number;
  /** The live view's users: a pause of this many ms between operations, at a pace a class can follow (the lab's is 0). */
  paceMs?: number;
  /** The live view's pause button: each loop waits on it before it starts. */
  gate?: () => Promise<void>;
  /** The live view: a user whose login is refused (its account gone) registers again and goes on. */
  reregister?: boolean;
  /**
   * The live view: after each upload, delete the user's oldest files beyond this many, so that a
   * class-long run stays far below the quota (MAX_FILES_PER_USER, 1,000) and every listing stays
   * short. Users with a pace (the live view's) keep LIVE_VIEW_KEEP_FILES unless told; the lab's keep all.
   */
  keepFiles?: number;
  /**
   * The live view: after this many loops a user logs out and logs in again, as a person whose
   * working session ends. A session view lists every upload of its session, so a session that
   * lasted a whole class would grow, and every request that reads it would slow with it.
   * Paced users renew every LIVE_VIEW_SESSION_LOOPS unless told; the lab's never do.
   */
  sessionLoops?: number;
  /**
   * `concurrent`: how many users may fire their burst of 10 at the same moment. Each user's 10
   * still go at once (that is the race); the users take turns, so that a queue of 80 requests on
   * a busy machine, not the design, cannot decide the cell.
   */
  burstsAtOnce?: number;
  /**
   * The lab: how many times in all a set-up operation (registration, login, the spare login and
   * its logout) is tried before the user counts as unable to set up (default 1).
   */
  setupTries?: number;
  /**
   * The lab: a user starts at most this many loops a second on average, the first `loopBurst` at
   * once (a token bucket). Without it a user that the fault does not touch runs flat out for the
   * whole fault, thousands of requests that tell nothing new, on the cores the next cell needs.
   */
  loopsPerSecond?: number;
  loopBurst?: number;
  /** For the lab's own tests only: every registration goes to a port where nothing listens, and fails. */
  plantRegistrationFailure?: boolean;
}

const PASSWORD = "lab-password-1";
/** How many of its uploads a user reads back at once. */
const READBACK_AT_ONCE = 4;
/** What the live view's users keep: a listing a class can read, 50 times below the quota. */
export const LIVE_VIEW_KEEP_FILES = 20;
/** How many loops a live-view session lasts: about a minute at the classroom's pace. */
export const LIVE_VIEW_SESSION_LOOPS = 40;
/** The discard port: nothing of the lab listens below 1024, so a planted registration meets a refused connection. */
const NOWHERE = "http://127.0.0.1:9";

/** At most `size` holders at once; the others wait their turn, in order. */
class Turns {
  private holders = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly size: number) {}

  async take<T>(work: () => Promise<T>): Promise<T> {
    if (this.holders >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.holders += 1;
    try {
      return await work();
    } finally {
      // The turn passes straight to the next in line, so the count of holders stays the same.
      const next = this.waiting.shift();
      if (next) next();
      else this.holders -= 1;
    }
  }
}

class VirtualUser {
  readonly name: string;
  loops = 0;
  loopsStarted = 0;
  stopped = false; // its login was refused: it cannot work any more
  /** Registered, logged in, and its spare login prepared (where the design has one): ready for the fault. */
  setUp = false;
  /** Why this user could not set up (its first failed set-up operation, in words); undefined while it can. */
  setupFailure: string | undefined;
  epoch = 0;
  private readonly credentials: Credentials;
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly random: () => number;
  /** A second login of this user, logged out before the fault, tried again after it. */
  private spare: Credentials | undefined;
  private uploads = 0;
  /** The session was refused (401): no request goes out without a new login first. */
  needsLogin = false;
  /** keepFiles: the acknowledged uploads not yet deleted, oldest first. */
  private readonly held: Operation[] = [];
  private readonly keepFiles: number | undefined;
  private readonly sessionLoops: number | undefined;
  /** The loop token bucket (loopsPerSecond): tokens left, and when they were counted. */
  private loopTokens: number;
  private tokensCountedAt = performance.now();

  constructor(
    readonly index: number,
    private readonly options: WorkloadOptions,
    private readonly history: Operation[],
    private readonly bursts?: Turns,
  ) {
    this.name = `user${index}-${options.tag}`; // "user 0" in every report, and the cell it worked in
    this.random = seededRandom(options.seed * 1000 + index);
    this.credentials = new Credentials(options.design, this.name, PASSWORD);
    this.keepFiles = options.keepFiles ?? (options.paceMs ? LIVE_VIEW_KEEP_FILES : undefined);
    this.sessionLoops = options.sessionLoops ?? (options.paceMs ? LIVE_VIEW_SESSION_LOOPS : undefined);
    this.loopTokens = options.loopBurst ?? 1;
  }

  /** Waits, when loopsPerSecond says so, until this user may start another loop. */
  private async takeLoopToken(): Promise<void> {
    const rate = this.options.loopsPerSecond;
    if (!rate) return;
    const now = performance.now();
    this.loopTokens = Math.min(
      this.options.loopBurst ?? 1,
      this.loopTokens + ((now - this.tokensCountedAt) * rate) / 1000,
    );
    this.tokensCountedAt = now;
    if (this.loopTokens < 1) {
      await new Promise((resolve) => setTimeout(resolve, ((1 - this.loopTokens) * 1000) / rate));
      this.loopTokens = 1;
      this.tokensCountedAt = performance.now();
    }
    this.loopTokens -= 1;
  }

  /** Runs one operation with retries and records it. */
  async operation(
    name: OperationName,
    request: DesignRequest & { agent?: http.Agent | false; baseUrl?: string },
    extra: Partial<Operation> = {},
  ): Promise<{ operation: Operation; outcome: Outcome }> {
    const start = this.options.clock();
    const url = (request.baseUrl ?? this.options.url) + request.path;
    const outcome = await send(
      { ...request, url, agent: request.agent ?? this.agent },
      this.options.clock,
      this.random,
    );
    const answer = outcome.answer;
    // The spare login's cookies are the spare's own (prepareSpareLogin keeps them): never the user's.
    if (!extra.spare) this.credentials.keepCookies(answer?.headers["set-cookie"]);
    const last = outcome.attempts[outcome.attempts.length - 1];
    const ok = answer !== undefined && answer.status >= 200 && answer.status < 300;
    const operation: Operation = {
      user: this.index,
      name,
      start,
      end: this.options.clock(),
      // 409 at registration after a retry means the first attempt worked: ok. A 401 is the design
      // forgetting the user. Anything else that is not a 2xx is an error.
      outcome:
        ok || (name === "register" && answer?.status === 409) ? "ok" : answer?.status === 401 ? "refused" : "error",
      status: answer?.status,
      code: typeof answer?.body.error === "string" ? answer.body.error : undefined,
      attempts: outcome.attempts,
      servedBy: last?.servedBy,
      storeNode: last?.storeNode,
      epoch: this.epoch,
      workload: true,
      ...extra,
    };
    this.history.push(operation);
    return { operation, outcome };
  }

  async register(): Promise<boolean> {
    const request = this.credentials.registerRequest();
    const { operation } = await this.setUpOperation(
      "register",
      this.options.plantRegistrationFailure ? { ...request, baseUrl: NOWHERE } : request,
    );
    // 409 after a retried request whose first answer was lost: the user exists, which is what we wanted.
    return operation.outcome === "ok";
  }

  /**
   * A set-up operation. Until the user is set up, one that failed is tried again, as a new
   * operation, up to `setupTries` in all: the tries that failed stay in the history but leave
   * the workload (set-up comes before anything a cell measures), and the last one says why the
   * user could not set up. A 401 is never tried again.
   */
  private async setUpOperation(
    name: OperationName,
    request: DesignRequest & { baseUrl?: string },
    extra: Partial<Operation> = {},
  ): Promise<{ operation: Operation; outcome: Outcome }> {
    const tries = this.setUp ? 1 : (this.options.setupTries ?? 1);
    for (let tried = 1; ; tried += 1) {
      const done = await this.operation(name, request, extra);
      const { operation } = done;
      if (operation.outcome === "ok" || this.setUp) return done;
      // A 401 is the design's own answer. To the user's own login it means the user cannot work;
      // to the spare login or its logout only that the design forgot the spare (stateful behind
      // round robin: the logout reached another instance), and the probe then leaves it out.
      if (operation.outcome === "refused" && extra.spare) return done;
      if (operation.outcome === "refused" || tried >= tries) {
        this.setupFailure ??= `${failureText(operation)}${tried > 1 ? `, the last of ${tried} tries` : ""}`;
        return done;
      }
      operation.workload = false;
    }
  }

  /** Logs in as the design wants; false when the login was refused (the user then stops). */
  async logIn(): Promise<boolean> {
    const login = this.credentials.loginRequest();
    this.epoch += 1;
    if (!login) {
      this.credentials.accept(); // stateless: the credentials go with every request
      this.needsLogin = false;
      return true;
    }
    const { operation, outcome } = await this.setUpOperation("login", login);
    if (operation.outcome === "ok") {
      this.credentials.accept(answerOf(outcome));
      this.needsLogin = false;
      return true;
    }
    this.epoch -= 1;
    if (operation.outcome === "refused") this.stopped = true;
    return false;
  }

  /** Logs in a second time and logs that spare login out; the probe tries it after the fault. */
  async prepareSpareLogin(): Promise<void> {
    const spare = this.credentials.spare();
    // With the jar's cookies, so that a sticky balancer keeps this user on its instance.
    const login = spare.loginRequest(spare.headers());
    if (!login) return;
    const { operation: loggedIn, outcome } = await this.setUpOperation("login", login, { spare: true });
    if (loggedIn.outcome !== "ok") return;
    spare.accept(answerOf(outcome));
    const logout = spare.logoutRequest();
    if (!logout) return;
    const { operation } = await this.setUpOperation("logout", logout, { spare: true });
    if (operation.outcome === "ok") this.spare = spare;
  }

  /**
   * The logged-out spare login, tried up to three times (behind round robin, most likely on
   * each instance once), stopping at the first try accepted: every try must be refused. A
   * logout that holds on one instance only is still a logout that does not hold.
   */
  async probeSpareLogin(): Promise<void> {
    if (!this.spare) return;
    this.spare.followBalancerOf(this.credentials); // the user's cookie jar as it is now, like every request of the user
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const { operation } = await this.operation(
        "probe",
        { method: "GET", path: "/api/files", headers: this.spare.headers() },
        { workload: false, spare: true },
      );
      if (operation.outcome === "ok") return;
    }
  }

  private nextKey(): string {
    this.uploads += 1;
    return `${this.name}-upload${this.uploads}`;
  }

  private upload(agent?: false) {
    const key = this.nextKey();
    const filename = `${key}.txt`;
    return this.operation(
      "upload",
      {
        method: "POST",
        path: "/api/upload",
        headers: { ...this.credentials.headers(), "Idempotency-Key": key },
        body: { filename, content: `written by ${this.name}` },
        agent,
      },
      { key, filename },
    ).then(({ operation, outcome }) => {
      if (operation.outcome === "ok") {
        operation.fileId = String(outcome.answer?.body.file_id);
        if (this.keepFiles !== undefined) this.held.push(operation);
      }
      return operation;
    });
  }

  /**
   * keepFiles: deletes the oldest files beyond the limit, one request each. A file already gone
   * (404: Redis came back empty) counts as deleted; one that could not be deleted now (a 401, a
   * 5xx, no answer) is tried again after the next upload.
   */
  private async deleteOldFiles(): Promise<void> {
    const keep = this.keepFiles;
    while (keep !== undefined && this.held.length > keep && !this.needsLogin) {
      const oldest = this.held[0];
      const { operation } = await this.operation(
        "delete",
        { method: "DELETE", path: `/api/files/${oldest.fileId}`, headers: this.credentials.headers() },
        { key: oldest.key, fileId: oldest.fileId, filename: oldest.filename },
      );
      if (operation.outcome !== "ok" && operation.status !== 404) {
        if (operation.status === 401) await this.relogin();
        return;
      }
      this.held.shift();
    }
  }

  /**
   * The live view's `concurrent` burst: ten uploads at once, each on its own connection, then
   * the session view, which shows which of them the session kept.
   */
  async burst(): Promise<{ uploads: Operation[]; view?: Operation }> {
    const uploads = await Promise.all(Array.from({ length: 10 }, () => this.upload(false)));
    return { uploads, view: await this.readSessionView() };
  }

  /** The session view, with the file ids it lists; undefined for a design without one. */
  private async readSessionView(): Promise<Operation | undefined> {
    const sessionView = this.credentials.sessionViewRequest();
    if (!sessionView) return undefined;
    const { operation, outcome } = await this.operation("session", sessionView);
    if (operation.outcome === "ok") operation.filesUploaded = (outcome.answer?.body.files_uploaded as string[]) ?? [];
    return operation;
  }

  /**
   * One loop. A 401 means the design forgot us: log in again and go on with the loop. When that
   * login fails too, the loop ends there: a request without a session would only be refused
   * again, for the same cause, with another code (401 missing_session).
   */
  async loop(): Promise<void> {
    await this.options.gate?.();
    await this.takeLoopToken();
    this.loopsStarted += 1;
    const burst = () => Promise.all(Array.from({ length: 10 }, () => this.upload(false)));
    const uploads = this.options.concurrent
      ? await (this.bursts ? this.bursts.take(burst) : burst())
      : [await this.upload()];
    if (uploads.some((upload) => upload.status === 401) && !(await this.relogin())) return;
    await this.deleteOldFiles();
    if (this.needsLogin) return;
    await this.pause();
    const view = await this.readSessionView();
    if (view) {
      if (view.status === 401 && !(await this.relogin())) return;
      await this.pause();
    }
    const { operation, outcome } = await this.operation("list", {
      method: "GET",
      path: "/api/files",
      headers: this.credentials.headers(),
    });
    if (operation.outcome === "ok")
      operation.filenames = ((outcome.answer?.body.files as Array<{ filename: string }>) ?? []).map(
        (file) => file.filename,
      );
    if (operation.status === 401) await this.relogin();
    await this.pause();
    this.loops += 1;
    if (this.sessionLoops && this.loops % this.sessionLoops === 0) await this.renewSession();
  }

  /** sessionLoops: log out (where the design can) and log in again, on a new session. */
  private async renewSession(): Promise<void> {
    const logout = this.credentials.logoutRequest();
    if (!logout) return;
    await this.operation("logout", logout);
    await this.relogin();
  }

  /**
   * The read-back, straight to one live instance: with `session`, read the user's own session
   * there first; then log in afresh (or use Basic), read every upload this user saw
   * acknowledged, and list the files (for duplicates).
   */
  async readBack(instanceUrl: string, options: { session?: boolean } = {}): Promise<void> {
    const agent = new http.Agent({ keepAlive: true });
    const common = { baseUrl: instanceUrl, agent };
    const sessionView = options.session && !this.needsLogin ? this.credentials.sessionViewRequest() : undefined;
    if (sessionView) {
      // The user's own session, where the store keeps it now: a session write that a Redis node
      // acknowledged and then lost shows only here (the user's instance may still read the node
      // that lost it, a frozen primary back from its pause).
      const { operation, outcome } = await this.operation(
        "readback-session",
        { ...sessionView, ...common },
        { workload: false },
      );
      if (operation.outcome === "ok") operation.filesUploaded = (outcome.answer?.body.files_uploaded as string[]) ?? [];
    }
    const fresh = new Credentials(this.options.design, this.name, PASSWORD);
    const login = fresh.loginRequest();
    if (login) {
      const { operation, outcome } = await this.operation(
        "readback-login",
        { ...login, ...common },
        { workload: false },
      );
      if (operation.outcome !== "ok") return agent.destroy(); // every acknowledged upload counts as lost
      fresh.accept(answerOf(outcome));
    } else {
      fresh.accept();
    }
    const headers = fresh.headers();
    const acknowledged = this.history.filter(
      (op) => op.user === this.index && op.name === "upload" && op.outcome === "ok" && op.fileId,
    );
    // READBACK_AT_ONCE reads at a time: one after the other, a user with a few hundred uploads
    // (a design that a store fault does not touch) kept the whole cell waiting on round trips.
    const queue = [...acknowledged];
    const reader = async () => {
      for (let upload = queue.shift(); upload; upload = queue.shift()) {
        await this.operation(
          "readback",
          { ...common, method: "GET", path: `/api/files/${upload.fileId}`, headers },
          { workload: false, fileId: upload.fileId, key: upload.key, filename: upload.filename },
        );
      }
    };
    await Promise.all(Array.from({ length: READBACK_AT_ONCE }, reader));
    const { operation, outcome } = await this.operation(
      "readback-list",
      { ...common, method: "GET", path: "/api/files", headers },
      { workload: false },
    );
    if (operation.outcome === "ok")
      operation.filenames = ((outcome.answer?.body.files as Array<{ filename: string }>) ?? []).map(
        (file) => file.filename,
      );
    agent.destroy();
  }

  /** After a 401: forget the session and log in again; false when that login failed. */
  private async relogin(): Promise<boolean> {
    this.credentials.forgetSession();
    this.needsLogin = true;
    return this.logIn();
  }

  /** 0 to 5 ms (plus the live view's pace), from the seed: users never march in step with the balancer's rotation. */
  pause(): Promise<void> {
    const pace = this.options.paceMs ?? 0;
    return new Promise((resolve) => setTimeout(resolve, pace + Math.floor(this.random() * (pace > 0 ? pace / 2 : 6))));
  }

  close(): void {
    this.agent.destroy();
  }
}

export class Workload {
  readonly operations: Operation[] = [];
  readonly users: VirtualUser[];
  private stopping = false;
  private running: Promise<void>[] = [];

  constructor(readonly options: WorkloadOptions) {
    const bursts = options.burstsAtOnce ? new Turns(options.burstsAtOnce) : undefined;
    this.users = Array.from({ length: options.users }, (_, i) => new VirtualUser(i, options, this.operations, bursts));
  }

  /** Starts every user; each works until stop(). */
  start(beforeLoops: (user: VirtualUser) => Promise<void> = async () => undefined): void {
    const work = async (user: VirtualUser) => {
      user.setupFailure = undefined;
      if (!(await user.register())) {
        user.stopped = true;
        return;
      }
      while (!this.stopping && !(await user.logIn())) {
        if (user.stopped) return;
      }
      await beforeLoops(user);
      if (!user.setupFailure) user.setUp = true;
      while (!this.stopping && !user.stopped) {
        if ((user.epoch === 0 || user.needsLogin) && !(await user.logIn())) {
          await user.pause(); // a login answered at once (a 429, a 503) is not tried again at once
          continue;
        }
        await user.loop();
      }
    };
    this.running = this.users.map(async (user) => {
      await work(user);
      // The live view: a user whose account is gone (Redis restarted empty) registers again after a second.
      while (this.options.reregister && !this.stopping) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        if (this.stopping) return;
        user.stopped = false;
        await work(user);
      }
    });
  }

  /**
   * Resolves once every user is set up (registered, logged in, spare login prepared), or as
   * soon as one could not (or at `deadline`): with what went wrong for each user that is not
   * set up, so that the lab never strikes at a cell running short-handed.
   */
  async waitForSetup(deadline: number): Promise<string[]> {
    const unready = () => this.users.filter((user) => !user.setUp);
    while (Date.now() < deadline && unready().length > 0 && !this.users.some((user) => user.setupFailure)) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const failed = unready().filter((user) => user.setupFailure);
    const late = unready().filter((user) => !user.setupFailure);
    return [
      ...failed.map((user) => user.setupFailure as string),
      ...late.map((user) => `user ${user.index} was still setting up`),
    ];
  }

  /** The users still able to work. */
  active(): VirtualUser[] {
    return this.users.filter((user) => !user.stopped);
  }

  /** Resolves when every active user has completed at least `loops` loops, or at `deadline`. */
  async waitForLoops(loops: number, deadline: number): Promise<void> {
    while (Date.now() < deadline && this.active().some((user) => user.loops < loops)) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** How many loops each user has started so far. */
  loopsStarted(): number[] {
    return this.users.map((user) => user.loopsStarted);
  }

  /** Resolves when every active user has completed `more` loops beyond `counts`, or at `deadline`. */
  async waitForMoreLoops(counts: number[], more: number, deadline: number): Promise<void> {
    while (Date.now() < deadline && this.active().some((user) => user.loops < counts[user.index] + more)) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Lets each user finish its current operation, then stops. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
    for (const user of this.users) user.close();
  }

  /** Every user that registered reads back its acknowledged uploads (and with `session`, its session) from `instanceUrl`. */
  async readBack(instanceUrl: string, options: { session?: boolean } = {}): Promise<void> {
    const registered = new Set(
      this.operations.filter((op) => op.name === "register" && op.outcome === "ok").map((op) => op.user),
    );
    await Promise.all(
      this.users.filter((user) => registered.has(user.index)).map((user) => user.readBack(instanceUrl, options)),
    );
  }

  /** Every user tries its logged-out spare login once. */
  async probeSpareLogins(): Promise<void> {
    await Promise.all(this.users.map((user) => user.probeSpareLogin()));
  }

  history(design: string, scenario: string, durationMs: number, fault?: History["fault"]): History {
    return { design, scenario, users: this.users.length, operations: this.operations, fault, durationMs };
  }
}

export type { VirtualUser };

/** The set-up operations, as a sentence names them. */
const SETUP_WORDS: Partial<Record<OperationName, string>> = {
  register: "registration",
  login: "login",
  logout: "logout",
};

/** "user 3's registration got no answer within the 1 s deadline (ECONNREFUSED; 9 attempts from 12 ms)". */
export function failureText(operation: Operation): string {
  const name = SETUP_WORDS[operation.name] ?? operation.name;
  const attempts = `${operation.attempts.length} attempt${operation.attempts.length === 1 ? "" : "s"} from ${Math.round(operation.start)} ms`;
  const error = operation.attempts[operation.attempts.length - 1]?.error ?? "no attempt";
  const answer =
    operation.status === undefined
      ? `got no answer within the ${OPERATION_DEADLINE_MS / 1000} s deadline (${error}; ${attempts})`
      : `was answered ${operation.status}${operation.code ? ` ${operation.code}` : ""} (${attempts})`;
  return `user ${operation.user}'s ${operation.spare ? "spare " : ""}${name} ${answer}`;
}

/** What Credentials needs of an operation's answer. */
function answerOf(outcome: Outcome): DesignAnswer {
  return {
    status: outcome.answer?.status ?? 0,
    body: outcome.answer?.body ?? {},
    setCookie: outcome.answer?.headers["set-cookie"],
  };
}
