// Two instances (separate processes) on one Redis, as behind a load balancer: where the
// session lives decides whether instance B knows a user who logged in on instance A
// (docs/labs/02-load-balancer-and-sticky-sessions.md).

import Redis from "ioredis";
import { fetchJson, registerAndLogIn, untilReady } from "../../test-support/http";
import { Design, ServerProcess, startServer } from "../../test-support/server-process";
import { freshDatabase, useStores } from "../../test-support/phase2-apps";

const redisProcess = useStores();

let prefixes = 0;
async function twoInstances(design: Design): Promise<[ServerProcess, ServerProcess]> {
  prefixes += 1;
  const env = {
    REDIS_URL: redisProcess().url,
    DATABASE_URL: await freshDatabase(), // one database for both: they share users and files
    KEY_PREFIX: `two-${prefixes}:`,
    LOG_LEVEL: "warn",
  };
  const [a, b] = await Promise.all([startServer(design, { env }), startServer(design, { env })]);
  await Promise.all([untilReady(a), untilReady(b)]);
  return [a, b];
}

const logIn = (server: ServerProcess) => registerAndLogIn(server, "nora");

function upload(server: ServerProcess, cookie: string, filename: string) {
  return fetchJson(`${server.url}/api/upload`, {
    method: "POST",
    headers: { Cookie: cookie },
    json: { filename, content: filename },
  });
}

describe("a session made on instance A", () => {
  it("is served by instance B for redis-session", async () => {
    const [a, b] = await twoInstances("redis-session");
    const cookie = await logIn(a);
    const view = await fetchJson(`${b.url}/api/session`, { headers: { Cookie: cookie } });
    expect(view.status).toBe(200);
    expect(view.headers.get("X-Served-By")).toBe(b.serverId);
    expect(view.body.username).toBe("nora");
  });

  it("is unknown to instance B for memory-session", async () => {
    const [a, b] = await twoInstances("memory-session");
    const cookie = await logIn(a);
    expect((await fetchJson(`${a.url}/api/session`, { headers: { Cookie: cookie } })).status).toBe(200);
    const view = await fetchJson(`${b.url}/api/session`, { headers: { Cookie: cookie } });
    expect(view.status).toBe(401);
    expect(view.body.error).toBe("session_not_found");
  });

  it("goes stale on instance A for cached-session: B's upload is missing from A's view, then overwritten in Redis", async () => {
    const [a, b] = await twoInstances("cached-session");
    const cookie = await logIn(a);
    const throughA = await upload(a, cookie, "through-a.txt");
    const throughB = await upload(b, cookie, "through-b.txt");
    expect(throughA.status).toBe(201);
    expect(throughB.status).toBe(201);

    // B read the session from Redis, so B's view is complete...
    expect((await fetchJson(`${b.url}/api/session`, { headers: { Cookie: cookie } })).body.files_uploaded).toEqual([
      throughA.body.file_id,
      throughB.body.file_id,
    ]);
    // ...but A answers from its own cached copy, which never heard of B's upload: a stale read.
    const viewOnA = await fetchJson(`${a.url}/api/session`, { headers: { Cookie: cookie } });
    expect(viewOnA.status).toBe(200);
    expect(viewOnA.body.files_uploaded).toEqual([throughA.body.file_id]);
    // The files themselves are in Redis, outside the session: both are there.
    const files = await fetchJson(`${a.url}/api/files`, { headers: { Cookie: cookie } });
    expect(files.body.files).toHaveLength(2);

    // A again: A saves its stale copy plus the new upload, over B's change in Redis: a lost update.
    const againThroughA = await upload(a, cookie, "again-through-a.txt");
    expect(againThroughA.status).toBe(201);
    const admin = new Redis(redisProcess().url);
    const sid = decodeURIComponent(cookie.slice("sid=".length)).slice(2).split(".")[0];
    const [key] = await admin.keys(`*sess:${sid}`);
    const stored = JSON.parse((await admin.get(key)) ?? "{}");
    admin.disconnect();
    expect(stored.files_uploaded).toEqual([throughA.body.file_id, againThroughA.body.file_id]); // B's upload is gone
  });
});
