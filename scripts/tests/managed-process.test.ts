// The lifecycle every process of the lab shares (scripts/processes/managed-process.ts): what
// Ctrl-C relies on. A process that starts while everything is being stopped (a cell bringing
// up its Redis just as the student presses Ctrl-C) must not outlive the run: redis-server has
// no lifeline to the lab, so a start missed by the stop would be an orphan.

import { isAlive, stopEverything, throwAwayDir } from "../processes/managed-process";
import { findRedisServer, RedisServer } from "../processes/redis";

const haveRedis = findRedisServer() !== null;

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
