// The workload: what the virtual users do (docs/how-the-lab-works.md, "The workload"). Each
// registers, logs in (or, for stateless, just uses its credentials), then loops: upload a
// file, read its session view (session designs), list its files. Every operation goes into
// the history.

import http from "node:http";
import { CookieJar, Outcome, Request, seededRandom, send } from "./client";
import { History, Operation, OperationName } from "./history";
import { Design, hasSessionView } from "./scenarios";

export interface WorkloadOptions {
  design: Design;
  url: string; // the balancer, or the one instance
  users: number;
  seed: number;
  concurrent: boolean; // 10 uploads at once per loop, each on its own connection
  tag: string; // short, unique per cell: user names (at most 32 characters) and idempotency keys
  clock: () => number;
}

const PASSWORD = "lab-password-1";

class VirtualUser {
  readonly name: string;
  loops = 0;
  loopsStarted = 0;
  stopped = false; // its login was refused: it cannot work any more
  epoch = 0;
  private readonly jar = new CookieJar();
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly random: () => number;
  private auth: Record<string, string> = {};
  private spareToken: string | undefined;
  private uploads = 0;

  constructor(
    readonly index: number,
    private readonly options: WorkloadOptions,
    private readonly history: Operation[],
  ) {
    this.name = `vu${options.tag}-${index}`;
    this.random = seededRandom(options.seed * 1000 + index);
  }

  private headers(): Record<string, string> {
    return { ...this.jar.header(), ...this.auth };
  }

  /** Runs one operation with retries and records it. */
  async operation(
    name: OperationName,
    request: Omit<Request, "agent" | "url"> & { path: string; agent?: http.Agent | false; baseUrl?: string },
    extra: Partial<Operation> = {},
  ): Promise<{ operation: Operation; outcome: Outcome }> {
    const start = this.options.clock();
    const url = (request.baseUrl ?? this.options.url) + request.path;
    const outcome = await send({ ...request, url, agent: request.agent ?? this.agent }, this.options.clock, this.random);
    const answer = outcome.answer;
    this.jar.store(answer?.headers["set-cookie"]);
    const last = outcome.attempts[outcome.attempts.length - 1];
    const ok = answer !== undefined && answer.status >= 200 && answer.status < 300;
    const operation: Operation = {
      user: this.index,
      name,
      start,
      end: this.options.clock(),
      // 409 at registration after a retry means the first attempt worked: ok. A 401 is the design
      // forgetting the user. Anything else that is not a 2xx is an error.
      outcome: ok || (name === "register" && answer?.status === 409) ? "ok" : answer?.status === 401 ? "refused" : "error",
      status: answer?.status,
      code: typeof answer?.body.error === "string" ? answer.body.error : undefined,
      attempts: outcome.attempts,
      servedBy: last?.servedBy,
      epoch: this.epoch,
      workload: true,
      ...extra,
    };
    this.history.push(operation);
    return { operation, outcome };
  }

  async register(): Promise<boolean> {
    const { operation } = await this.operation("register", { method: "POST", path: "/api/users", body: { username: this.name, password: PASSWORD } });
    // 409 after a retried request whose first answer was lost: the user exists, which is what we wanted.
    return operation.outcome === "ok";
  }

  /** Logs in as the design wants; false when the login was refused (the user then stops). */
  async logIn(): Promise<boolean> {
    const design = this.options.design;
    if (design === "stateless") {
      this.auth = { Authorization: `Basic ${Buffer.from(`${this.name}:${PASSWORD}`).toString("base64")}` };
      this.epoch += 1;
      return true;
    }
    const path = design === "stateful" ? "/api/session/start" : "/api/login";
    this.epoch += 1;
    const { operation, outcome } = await this.operation("login", { method: "POST", path, body: { username: this.name, password: PASSWORD } });
    if (operation.outcome === "ok") {
      const body = outcome.answer?.body ?? {};
      if (design === "stateful") this.auth = { "X-Session-ID": String(body.session_id) };
      if (design === "jwt") this.auth = { Authorization: `Bearer ${String(body.token)}` };
      return true;
    }
    this.epoch -= 1;
    if (operation.outcome === "refused") this.stopped = true;
    return false;
  }

  /** jwt: log in a second time and log that spare token out; the probe tries it at the end. */
  async prepareSpareToken(): Promise<void> {
    // With the jar's cookies, so that a sticky balancer keeps this user on its instance.
    const { outcome } = await this.operation("login", { method: "POST", path: "/api/login", headers: this.jar.header(), body: { username: this.name, password: PASSWORD } }, { spare: true });
    const token = outcome.answer?.status === 200 ? String(outcome.answer.body.token) : undefined;
    if (!token) return;
    const { operation } = await this.operation("logout", { method: "POST", path: "/api/logout", headers: { ...this.jar.header(), Authorization: `Bearer ${token}` } }, { spare: true });
    if (operation.outcome === "ok") this.spareToken = token;
  }

  async probeSpareToken(): Promise<void> {
    if (!this.spareToken) return;
    await this.operation("probe", { method: "GET", path: "/api/files", headers: { ...this.jar.header(), Authorization: `Bearer ${this.spareToken}` } }, { workload: false });
  }

  private nextKey(): string {
    this.uploads += 1;
    return `${this.name}-${this.uploads}`;
  }

  private upload(agent?: false) {
    const key = this.nextKey();
    const filename = `${key}.txt`;
    return this.operation(
      "upload",
      { method: "POST", path: "/api/upload", headers: { ...this.headers(), "Idempotency-Key": key }, body: { filename, content: `written by ${this.name}` }, agent },
      { key, filename },
    ).then(({ operation, outcome }) => {
      if (operation.outcome === "ok") operation.fileId = String(outcome.answer?.body.file_id);
      return operation;
    });
  }

  /** One loop. A 401 means the design forgot us: log in again and go on with the loop. */
  async loop(): Promise<void> {
    this.loopsStarted += 1;
    const uploads = this.options.concurrent
      ? await Promise.all(Array.from({ length: 10 }, () => this.upload(false)))
      : [await this.upload()];
    if (uploads.some((upload) => upload.status === 401)) await this.relogin();
    await this.pause();
    if (hasSessionView(this.options.design)) {
      const { operation, outcome } = await this.operation("session", { method: "GET", path: "/api/session", headers: this.headers() });
      if (operation.outcome === "ok") operation.filesUploaded = (outcome.answer?.body.files_uploaded as string[]) ?? [];
      if (operation.status === 401) await this.relogin();
      await this.pause();
    }
    const { operation, outcome } = await this.operation("list", { method: "GET", path: "/api/files", headers: this.headers() });
    if (operation.outcome === "ok") operation.filenames = ((outcome.answer?.body.files as Array<{ filename: string }>) ?? []).map((file) => file.filename);
    if (operation.status === 401) await this.relogin();
    await this.pause();
    this.loops += 1;
  }

  /**
   * The read-back, straight to one live instance: log in afresh there (or use Basic), read every
   * upload this user saw acknowledged, and list the files (for duplicates).
   */
  async readBack(instanceUrl: string): Promise<void> {
    const design = this.options.design;
    const agent = new http.Agent({ keepAlive: true });
    const common = { baseUrl: instanceUrl, agent };
    let headers: Record<string, string> = {};
    if (design === "stateless") {
      headers = { Authorization: `Basic ${Buffer.from(`${this.name}:${PASSWORD}`).toString("base64")}` };
    } else {
      const path = design === "stateful" ? "/api/session/start" : "/api/login";
      const { operation, outcome } = await this.operation("readback-login", { ...common, method: "POST", path, body: { username: this.name, password: PASSWORD } }, { workload: false });
      if (operation.outcome !== "ok") return agent.destroy(); // every acknowledged upload counts as lost
      const body = outcome.answer?.body ?? {};
      const cookie = outcome.answer?.headers["set-cookie"]?.map((header) => header.split(";")[0]).find((pair) => pair.startsWith("sid="));
      if (design === "stateful") headers = { "X-Session-ID": String(body.session_id) };
      else if (design === "jwt") headers = { Authorization: `Bearer ${String(body.token)}` };
      else if (cookie) headers = { Cookie: cookie };
    }
    const acknowledged = this.history.filter((op) => op.user === this.index && op.name === "upload" && op.outcome === "ok" && op.fileId);
    for (const upload of acknowledged) {
      await this.operation("readback", { ...common, method: "GET", path: `/api/files/${upload.fileId}`, headers }, { workload: false, fileId: upload.fileId, key: upload.key, filename: upload.filename });
    }
    const { operation, outcome } = await this.operation("readback-list", { ...common, method: "GET", path: "/api/files", headers }, { workload: false });
    if (operation.outcome === "ok") operation.filenames = ((outcome.answer?.body.files as Array<{ filename: string }>) ?? []).map((file) => file.filename);
    agent.destroy();
  }

  private async relogin(): Promise<void> {
    this.jar.clear("sid");
    await this.logIn();
  }

  /** 0 to 5 ms, from the seed: users never march in step with the balancer's rotation. */
  pause(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.floor(this.random() * 6)));
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
    this.users = Array.from({ length: options.users }, (_, i) => new VirtualUser(i, options, this.operations));
  }

  /** Starts every user; each works until stop(). */
  start(beforeLoops: (user: VirtualUser) => Promise<void> = async () => undefined): void {
    this.running = this.users.map(async (user) => {
      if (!(await user.register())) {
        user.stopped = true;
        return;
      }
      while (!this.stopping && !(await user.logIn())) {
        if (user.stopped) return;
      }
      await beforeLoops(user);
      while (!this.stopping && !user.stopped) {
        if (user.epoch === 0 && !(await user.logIn())) continue;
        await user.loop();
      }
    });
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

  /** Every user that registered reads back its acknowledged uploads from `instanceUrl`. */
  async readBack(instanceUrl: string): Promise<void> {
    const registered = new Set(this.operations.filter((op) => op.name === "register" && (op.outcome === "ok" || op.status === 409)).map((op) => op.user));
    await Promise.all(this.users.filter((user) => registered.has(user.index)).map((user) => user.readBack(instanceUrl)));
  }

  /** jwt: every user tries its logged-out spare token once. */
  async probeSpareTokens(): Promise<void> {
    await Promise.all(this.users.map((user) => user.probeSpareToken()));
  }

  history(design: string, scenario: string, durationMs: number, fault?: History["fault"]): History {
    return { design, scenario, users: this.users.length, operations: this.operations, fault, durationMs };
  }
}

export type { VirtualUser };
