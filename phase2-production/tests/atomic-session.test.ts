// atomic-session, the design that survives the race of the `concurrent` scenario: no request
// loads, changes and saves the whole session, so parallel requests cannot overwrite each
// other. The same 50 parallel uploads on one session, on atomic-session and on redis-session
// (docs/transition-to-phase2.md, "The race that no store fixes"; docs/labs/05-concurrency.md).

import http from "node:http";
import { AddressInfo } from "node:net";
import Redis from "ioredis";
import { Phase2Design } from "../src/operations/config";
import { fetchJson, parallelUploads } from "../../test-support/http";
import { connected, phase2App, sessionCookie, useStores } from "../../test-support/phase2-apps";

const redis = useStores();
const servers: http.Server[] = [];
afterAll(() => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

/** An app of `design` on a real port (the race needs real parallel connections), and a logged-in user. */
async function loggedIn(design: Phase2Design, username: string) {
  const phase2 = await connected(phase2App(design, redis().url));
  const server = http.createServer(phase2.app).listen(0, "127.0.0.1");
  servers.push(server);
  await new Promise((resolve) => server.once("listening", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const credentials = { username, password: "password-ok" };
  await fetchJson(`${url}/api/users`, { method: "POST", json: credentials });
  const login = await fetch(`${url}/api/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(credentials),
  });
  expect(login.status).toBe(200);
  return {
    url,
    cookie: sessionCookie(login.headers.getSetCookie()),
    sid: decodeURIComponent(sessionCookie(login.headers.getSetCookie())).slice("sid=s:".length).split(".")[0],
  };
}

/** 50 uploads at once, each on its own connection. */
async function fiftyAtOnce(url: string, cookie: string): Promise<number[]> {
  return (await parallelUploads(url, cookie, 50, "fifty")).map((upload) => upload.status);
}

describe("50 parallel uploads in one session", () => {
  it("atomic-session: all 50 are in the session view, and request_count counted every request", async () => {
    const { url, cookie } = await loggedIn("atomic-session", "atomic-racer");
    expect(await fiftyAtOnce(url, cookie)).toEqual(Array(50).fill(201));
    const view = await fetchJson(`${url}/api/session`, { headers: { Cookie: cookie } });
    expect(view.status).toBe(200);
    expect(view.body.files_uploaded).toHaveLength(50);
    expect(view.body.request_count).toBe(51); // 50 uploads and this view: no increment lost
  });

  it("redis-session: the same 50 are stored, but the session view loses some", async () => {
    const { url, cookie } = await loggedIn("redis-session", "redis-racer");
    expect(await fiftyAtOnce(url, cookie)).toEqual(Array(50).fill(201));
    const files = await fetchJson(`${url}/api/files`, { headers: { Cookie: cookie } });
    expect(files.body.files).toHaveLength(50);
    const view = await fetchJson(`${url}/api/session`, { headers: { Cookie: cookie } });
    expect(view.body.files_uploaded.length).toBeLessThan(50);
  });
});

describe("an atomic-session session", () => {
  it("lists its uploads in the order they were made, a replay once", async () => {
    const { url, cookie } = await loggedIn("atomic-session", "atomic-order");
    const ids: string[] = [];
    for (const name of ["first", "second", "third"]) {
      const upload = await fetchJson(`${url}/api/upload`, {
        method: "POST",
        headers: { Cookie: cookie, "Idempotency-Key": name },
        json: { filename: `${name}.txt`, content: name },
      });
      ids.push(upload.body.file_id);
    }
    const replay = await fetchJson(`${url}/api/upload`, {
      method: "POST",
      headers: { Cookie: cookie, "Idempotency-Key": "first" },
      json: { filename: "first.txt", content: "first" },
    });
    expect(replay.status).toBe(200);
    const view = await fetchJson(`${url}/api/session`, { headers: { Cookie: cookie } });
    expect(view.body).toMatchObject({ username: "atomic-order", request_count: 5, files_uploaded: ids });
  });

  it("keeps what requests change beside the record, renews all three keys, and deletes them at logout", async () => {
    const { url, cookie, sid } = await loggedIn("atomic-session", "atomic-keys");
    await fetchJson(`${url}/api/upload`, {
      method: "POST",
      headers: { Cookie: cookie },
      json: { filename: "a.txt", content: "a" },
    });
    const admin = new Redis(redis().url);
    try {
      const prefix = (await admin.keys(`*sess:${sid}`))[0].replace(`sess:${sid}`, "");
      const keys = (await admin.keys(`*${sid}*`)).map((key) => key.replaceAll(prefix, "").replace(sid, "<sid>")).sort();
      // The record's key is the others' hash tag: one slot on a Redis Cluster, so one MULTI may name all three.
      expect(keys).toEqual(["sess:<sid>", "sessfields:{sess:<sid>}", "sessfiles:{sess:<sid>}"]);
      for (const key of await admin.keys(`*${sid}*`)) expect(await admin.ttl(key)).toBeGreaterThan(1700);
      const record = JSON.parse((await admin.get((await admin.keys(`*sess:${sid}`))[0])) as string);
      expect(record.request_count).toBeUndefined(); // the record is the login's, never rewritten by a request
      expect((await fetchJson(`${url}/api/logout`, { method: "POST", headers: { Cookie: cookie } })).status).toBe(200);
      expect(await admin.keys(`*${sid}*`)).toEqual([]);
      expect((await fetchJson(`${url}/api/session`, { headers: { Cookie: cookie } })).status).toBe(401);
    } finally {
      admin.disconnect();
    }
  });
});
