// fetch() over loopback with the JSON body parsed, for tests that talk to real processes.
// Plumbing, not a lesson: the tests that use it are cited in docs/concepts.md.

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
