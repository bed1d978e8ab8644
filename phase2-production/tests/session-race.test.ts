// The express-session race (connect-redis #75, express-session #361 and #606): each request
// loads its own copy of the session and saves the whole object when it ends, so parallel
// requests on one session overwrite each other and the last save wins. The files are safe
// (the data store never rewrites a shared record); the session view is not. This test
// asserts that the loss happens, because it is the lesson of the `concurrent` scenario
// (docs/transition-to-phase2.md, "The race that no store fixes"; docs/labs/05-concurrency.md).
// (memory-session races too, but its store answers so fast that one session of 10 uploads
// sometimes keeps them all; the lab's `concurrent` scenario, 8 users at once, shows it.)

import http from "node:http";
import { AddressInfo } from "node:net";
import { stopEverything } from "../../scripts/processes/managed-process";
import { RedisServer, startRedis } from "../../scripts/processes/redis";
import { fetchJson, parallelUploads } from "../../test-support/http";
import { closeAllApps, connected, phase2App, sessionCookie } from "../../test-support/phase2-apps";
import { usePostgres } from "../../test-support/postgres";

usePostgres(); // the apps' users and files; this file starts its own Redis

let redis: RedisServer;
const servers: http.Server[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  await closeAllApps();
  await stopEverything();
});

describe.each(["redis-session", "cached-session"] as const)("10 parallel uploads in one %s session", (design) => {
  it("store all 10 files but lose some of them from the session view", async () => {
    const { app } = await connected(phase2App(design, redis.url));
    const server = http.createServer(app).listen(0, "127.0.0.1");
    servers.push(server);
    await new Promise((resolve) => server.once("listening", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const credentials = { username: "racer", password: "password-ok" };
    await fetchJson(`${url}/api/users`, { method: "POST", json: credentials });
    const login = await fetch(`${url}/api/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(credentials),
    });
    const cookie = sessionCookie(login.headers.getSetCookie());

    const uploads = await parallelUploads(url, cookie, 10, "race");
    expect(uploads.map((upload) => upload.status)).toEqual(Array(10).fill(201));

    const files = await fetchJson(`${url}/api/files`, { headers: { Cookie: cookie } });
    expect(files.body.files).toHaveLength(10); // every acknowledged file is stored
    const view = await fetchJson(`${url}/api/session`, { headers: { Cookie: cookie } });
    expect(view.status).toBe(200);
    expect(view.body.files_uploaded.length).toBeLessThan(10); // but the session forgot some of them
    expect(view.body.files_uploaded.length).toBeGreaterThanOrEqual(1);
  });
});
