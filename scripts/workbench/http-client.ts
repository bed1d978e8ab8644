// The virtual users' HTTP client: a careful real client. An attempt that meets a refused or
// reset connection, a socket closed before the answer, or a 502, 503 or 504 is retried after a
// short backoff until the operation's 1 s deadline; an attempt still running at the deadline
// is abandoned. A 401 is never retried: it is the design telling the user it forgot them
// (docs/how-the-lab-works.md, "Retries, and why a 401 is never retried").

import http from "node:http";
import { Attempt } from "./history";

export const OPERATION_DEADLINE_MS = 1000;
const MAX_BACKOFF_MS = 100;
const MIN_ATTEMPT_MS = 100; // a 503 under load can take tens of milliseconds: never start an attempt the deadline would cut

export interface Request {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** false: a fresh connection for this request alone (the `concurrent` scenario). */
  agent: http.Agent | false;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export interface Outcome {
  answer?: Answer; // the last answer, if any came
  attempts: Attempt[];
}

/** Sends one attempt; rejects with a network error (or "abandoned" at `deadline`). */
function attempt(request: Request, deadline: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body));
    const headers: Record<string, string | number> = { ...request.headers };
    if (payload) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = payload.length;
    }
    const req = http.request(request.url, { method: request.method, headers, agent: request.agent });
    const timer = setTimeout(
      () => req.destroy(Object.assign(new Error("abandoned at the deadline"), { code: "abandoned" })),
      Math.max(1, deadline - Date.now()),
    );
    req.on("response", (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        clearTimeout(timer);
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          // not JSON (a balancer's own page, say): keep the status
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
      });
      response.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    req.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(payload);
  });
}

function retryable(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

/** Sends `request`, retrying what a careful client retries, until the 1 s deadline. */
export async function send(request: Request, clock: () => number, random: () => number): Promise<Outcome> {
  const deadline = Date.now() + OPERATION_DEADLINE_MS;
  const attempts: Attempt[] = [];
  let answer: Answer | undefined;
  for (let n = 0; ; n += 1) {
    const start = clock();
    try {
      answer = await attempt(request, deadline);
      const servedBy = answer.headers["x-served-by"];
      const storeNode = answer.headers["x-store-node"];
      const code = typeof answer.body.error === "string" ? answer.body.error : undefined;
      attempts.push({
        start,
        end: clock(),
        status: answer.status,
        code,
        servedBy: typeof servedBy === "string" ? servedBy : undefined,
        storeNode: typeof storeNode === "string" ? storeNode : undefined,
      });
      if (!retryable(answer.status)) return { answer, attempts };
    } catch (error) {
      attempts.push({ start, end: clock(), error: (error as NodeJS.ErrnoException).code ?? (error as Error).message });
      if (Date.now() >= deadline) return { answer: undefined, attempts };
    }
    const backoff = Math.min(MAX_BACKOFF_MS, 10 * 2 ** n) * (0.5 + random() / 2);
    // Retry until the deadline, but start no attempt that the deadline would cut short: an
    // attempt abandoned after a few milliseconds would look like a hung server.
    const remaining = deadline - Date.now();
    if (remaining <= MIN_ATTEMPT_MS) return { answer, attempts };
    await new Promise((resolve) => setTimeout(resolve, Math.min(backoff, remaining - MIN_ATTEMPT_MS)));
  }
}

/** A small seeded random generator (mulberry32), so a run's choices repeat with its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
