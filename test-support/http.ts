// fetch() over loopback with the JSON body parsed, for tests that talk to real processes: waiting
// until a server is ready, a user registered and logged in, uploads at once. Plumbing, not a
// lesson: the tests that use it are cited in docs/concepts.md.

import net from "node:net";
import type { ServerProcess } from "./server-process";

// Tests read nested fields of many shapes; `any` keeps them short (allowed in tests only).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonBody = any;

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: JsonBody;
}

export async function fetchJson(url: string, init: RequestInit & { json?: unknown } = {}): Promise<JsonResponse> {
  const { json, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (json !== undefined) headers.set("Content-Type", "application/json");
  const response = await fetch(url, { ...rest, headers, body: json === undefined ? rest.body : JSON.stringify(json) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

/**
 * `count` uploads at once in one session, each on its own connection (`Connection: close`): a
 * single keep-alive socket would send them one after the other and hide the session race.
 */
export function parallelUploads(url: string, cookie: string, count: number, prefix: string): Promise<JsonResponse[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      fetchJson(`${url}/api/upload`, {
        method: "POST",
        headers: { Cookie: cookie, Connection: "close", "Idempotency-Key": `${prefix}-${i}` },
        json: { filename: `${prefix}-${i}.txt`, content: `upload ${i}` },
      }),
    ),
  );
}

/** The `sid=...` pair from a response's Set-Cookie, to send back as a Cookie header. */
export function sessionCookie(setCookie: string | string[] | null | undefined): string {
  const headers = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  const pair = headers.map((header) => header.split(";")[0]).find((cookie) => cookie.startsWith("sid="));
  if (!pair) throw new Error(`no sid cookie in ${JSON.stringify(setCookie)}`);
  return pair;
}

/** Resolves once the server's /ready answers 200 (its Redis is reachable), with how long that took in ms. */
export async function untilReady(server: ServerProcess, timeoutMs = 15_000): Promise<number> {
  const started = Date.now();
  while ((await fetchJson(`${server.url}/ready`)).status !== 200) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`${server.serverId} was not ready within ${timeoutMs} ms:\n${server.output().slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Date.now() - started;
}

/** Registers `username` on a running phase-2 server of a cookie design and logs in: resolves with its `sid` cookie. */
export async function registerAndLogIn(server: ServerProcess, username: string): Promise<string> {
  const credentials = { username, password: "password-ok" };
  expect((await fetchJson(`${server.url}/api/users`, { method: "POST", json: credentials })).status).toBe(201);
  const login = await fetchJson(`${server.url}/api/login`, { method: "POST", json: credentials });
  expect(login.status).toBe(200);
  return sessionCookie(login.headers.getSetCookie());
}

/** A loopback port free now, for a server that a test must reach before it says where it listens. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
