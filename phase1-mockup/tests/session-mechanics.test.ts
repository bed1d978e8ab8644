// Session management by hand: creation, validation, idle timeout, clean-up and end. The
// store takes a clock, so expiry is tested by moving time instead of waiting for it.
// Explained in docs/concepts.md ("4. Session management").

import { spawnSync } from "node:child_process";
import request from "supertest";
import { MapSessionStore } from "../src/sessions/map-session-store";
import { statefulApp } from "../../test-support/phase1-apps";
import { compiled, startServer, stopAllServers } from "../../test-support/server-process";
import { makeTempDir, removeTempDirs } from "../../test-support/temp-dir";

afterAll(async () => {
  await stopAllServers();
  removeTempDirs();
});

function clock(start = Date.parse("2026-01-01T00:00:00Z")) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("the Map session store", () => {
  it("creates sessions with distinct, unguessable ids", () => {
    const store = new MapSessionStore(60);
    const ids = new Set(
      Array.from({ length: 1000 }, () => store.create({ username: "dave", userId: "id-dave" }).sessionId),
    );
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("counts every access as activity and slides the idle timeout", () => {
    const time = clock();
    const store = new MapSessionStore(60, time.now);
    const { sessionId } = store.create({ username: "dave", userId: "id-dave" });
    for (let i = 1; i <= 5; i += 1) {
      time.advance(59_000); // just inside the TTL each time: the session stays alive
      const lookup = store.touch(sessionId);
      expect(lookup.status).toBe("active");
      if (lookup.status === "active") expect(lookup.data.request_count).toBe(i);
    }
  });

  it("expires a session idle for the TTL, lazily, on the next access", () => {
    const time = clock();
    const store = new MapSessionStore(60, time.now);
    const { sessionId } = store.create({ username: "dave", userId: "id-dave" });
    time.advance(60_000);
    expect(store.touch(sessionId)).toEqual({ status: "expired" });
    expect(store.size).toBe(0); // the session itself is gone from the Map at once
    expect(store.touch(sessionId)).toEqual({ status: "expired" }); // but its id is remembered as expired
  });

  it("remembers an expired id for one more TTL, then forgets it", () => {
    const time = clock();
    const store = new MapSessionStore(60, time.now);
    const { sessionId } = store.create({ username: "dave", userId: "id-dave" });
    time.advance(61_000);
    expect(store.sweep()).toBe(1);
    expect(store.touch(sessionId)).toEqual({ status: "expired" }); // swept, and still "expired"
    time.advance(60_000);
    store.sweep();
    expect(store.touch(sessionId)).toEqual({ status: "not_found" }); // long gone: unknown
  });

  it("sweeps away expired sessions and keeps active ones", () => {
    const time = clock();
    const store = new MapSessionStore(60, time.now);
    const old = store.create({ username: "erin", userId: "id-erin" }).sessionId;
    time.advance(30_000);
    const recent = store.create({ username: "frank", userId: "id-frank" }).sessionId;
    time.advance(30_000);
    expect(store.sweep()).toBe(1);
    expect(store.size).toBe(1);
    expect(store.touch(old).status).toBe("expired");
    expect(store.touch(recent).status).toBe("active");
  });

  it("runs the sweep on a timer", () => {
    jest.useFakeTimers();
    try {
      const time = clock();
      const store = new MapSessionStore(60, time.now);
      store.create({ username: "gina", userId: "id-gina" });
      store.startSweeper(1000);
      time.advance(61_000);
      expect(store.size).toBe(1);
      jest.advanceTimersByTime(1000);
      expect(store.size).toBe(0);
      store.stopSweeper();
    } finally {
      jest.useRealTimers();
    }
  });

  it("never keeps a process alive with its sweep timer", () => {
    const script = `const { MapSessionStore } = require(${JSON.stringify(compiled("sessions/map-session-store.js"))});
      const store = new MapSessionStore(3600); store.create({ username: "henry", userId: "id-henry" }); store.startSweeper(50);
      setTimeout(() => console.log("done"), 200);`;
    const result = spawnSync(process.execPath, ["-e", script], { timeout: 10_000, encoding: "utf8" });
    expect(result.error).toBeUndefined(); // a kept-alive process would be killed by the timeout
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe("done");
  });

  it("sweeps in the real server: an expired session is forgotten on schedule", async () => {
    // SESSION_TTL_SECONDS=1: the server sweeps every second and remembers an expired id for
    // one more second. Untouched for 3.5 s, the session has been swept and then forgotten; a
    // server without the sweeper would still find it in its Map and answer session_expired.
    const server = await startServer("stateful", {
      env: { DATA_DIR: makeTempDir("sweep-data"), SESSION_TTL_SECONDS: "1" },
    });
    const json = { "Content-Type": "application/json" };
    const credentials = JSON.stringify({ username: "sweepy", password: "password-ok" });
    await fetch(`${server.url}/api/users`, { method: "POST", headers: json, body: credentials });
    const { session_id } = (await (
      await fetch(`${server.url}/api/session/start`, { method: "POST", headers: json, body: credentials })
    ).json()) as { session_id: string };
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const response = await fetch(`${server.url}/api/session`, { headers: { "X-Session-ID": session_id } });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe("session_not_found");
  });

  it("ends a session on destroy", () => {
    const store = new MapSessionStore(60);
    const { sessionId } = store.create({ username: "ivy", userId: "id-ivy" });
    expect(store.destroy(sessionId)).toBe(true);
    expect(store.destroy(sessionId)).toBe(false);
    expect(store.touch(sessionId).status).toBe("not_found");
  });
});

describe("session expiry over HTTP", () => {
  it("answers session_expired for an idle session and expires_in with the configured TTL", async () => {
    const time = clock();
    const { app } = statefulApp({ sessions: new MapSessionStore(5, time.now) });
    await request(app).post("/api/users").send({ username: "jack", password: "password-four" });
    const start = await request(app).post("/api/session/start").send({ username: "jack", password: "password-four" });
    expect(start.body.expires_in).toBe(5);
    const sessionId = start.body.session_id;
    time.advance(4_000);
    expect((await request(app).get("/api/session").set("X-Session-ID", sessionId)).status).toBe(200);
    time.advance(5_000);
    const expired = await request(app).get("/api/session").set("X-Session-ID", sessionId);
    expect(expired.status).toBe(401);
    expect(expired.body.error).toBe("session_expired");
  });
});
