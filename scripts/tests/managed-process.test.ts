// The lifecycle every process of the lab shares (scripts/processes/managed-process.ts): what
// Ctrl-C relies on. A process that starts while everything is being stopped (a cell bringing
// up its Redis just as the student presses Ctrl-C) must not outlive the run: redis-server has
// no lifeline to the lab, so a start missed by the stop would be an orphan.

import { isAlive, stopEverything, throwAwayDir } from "../processes/managed-process";
import { findPostgres, startLabPostgres } from "../processes/postgres";
import { findRedisServer, RedisServer } from "../processes/redis";

const haveRedis = findRedisServer() !== null;
const havePostgres = findPostgres() !== null;

afterAll(async () => {
  await stopEverything();
});

(haveRedis ? describe : describe.skip)("stopEverything", () => {
  it("refuses a start that begins while it runs, and leaves no process of either alive", async () => {
    const running = new RedisServer(throwAwayDir("lab-mp-"), false, "redis-running");
    await running.start();
    const runningPid = running.pid as number;

    const stopped = stopEverything();
    const late = new RedisServer(throwAwayDir("lab-mp-"), false, "redis-late");
    await expect(late.start()).rejects.toThrow(
      "redis-late was not started: every process of this run is being stopped",
    );
    await stopped;

    expect(late.pid).toBeUndefined();
    expect(isAlive(runningPid)).toBe(false);
  });

  it("lets a later run start processes again once it has finished", async () => {
    await stopEverything();
    const next = new RedisServer(throwAwayDir("lab-mp-"), false, "redis-next");
    await next.start();
    expect(next.running).toBe(true);
    await next.kill();
    expect(next.running).toBe(false);
  });
});

(havePostgres ? describe : describe.skip)("a PostgreSQL on a port another one holds", () => {
  it("is refused, never reported as started: the other server answered its readiness probe", async () => {
    // npm run db:start beside another db:start on 5490 said "started" and handed out the other
    // server's DATABASE_URL; a start now checks that the server answering serves its own folder.
    const first = (await startLabPostgres(throwAwayDir("lab-mp-pg-"))).server;
    await expect(startLabPostgres(throwAwayDir("lab-mp-pg-"), "postgres", first.port)).rejects.toThrow(
      `could not listen (port ${first.port} taken`,
    );
    expect(first.running).toBe(true);
  }, 60_000);
});
