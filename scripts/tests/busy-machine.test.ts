// The rules that keep a cell honest on a busy laptop, on hand-made histories and a stub
// server: no cell runs short-handed (every user set up before the fault, or the cell is not
// run), a note says when failures came against the fault's own times, bursts take turns
// between users while each user's 10 still race, and fewer cells run at once when the machine
// has no idle core (docs/how-the-lab-works.md, "A busy machine").

import http from "node:http";
import { AddressInfo } from "node:net";
import { CellResult } from "../lab/cell";
import { failedOperationsText } from "../lab/agreement";
import { jobsForHeadroom, quietJobs } from "../processes/machine";
import { History, Operation } from "../workbench/history";
import { Fault } from "../workbench/nemesis";
import { Workload } from "../workbench/workload";
import { faultRecord } from "../../test-support/fault-records";

/**
 * A stateless server that accepts every registration (after `failFirstRegistrations` that
 * answer 500) and every upload, answering each upload after `uploadMs`; it counts the uploads
 * in flight.
 */
function stubServer(uploadMs: number, failFirstRegistrations = 0) {
  const inFlight = { now: 0, most: 0 };
  const arrivals: Array<{ user: string; at: number }> = [];
  let registrations = 0;
  const server = http.createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      const answer = (status: number, body: object) => {
        response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      };
      if (request.url === "/api/users" && (registrations += 1) <= failFirstRegistrations)
        return answer(500, { error: "internal", message: "a starved server, say" });
      if (request.url === "/api/users") return answer(201, { username: "someone" });
      if (request.url === "/api/files") return answer(200, { files: [] });
      // stateful behind round robin: the session starts on one instance, the logout reaches another.
      if (request.url === "/api/session/start") return answer(201, { session_id: "s1", expires_in: 1800 });
      if (request.url === "/api/session/end") return answer(401, { error: "session_not_found", message: "no session" });
      if (request.url !== "/api/upload") return answer(404, { error: "not_found", message: "no such route" });
      const basic = request.headers.authorization?.split(" ")[1];
      const user = basic ? Buffer.from(basic, "base64").toString().split(":")[0] : "someone with a session";
      arrivals.push({ user, at: performance.now() });
      inFlight.now += 1;
      inFlight.most = Math.max(inFlight.most, inFlight.now);
      setTimeout(() => {
        inFlight.now -= 1;
        answer(201, { file_id: `${user}-${arrivals.length}` });
      }, uploadMs);
    });
  });
  return {
    inFlight,
    arrivals,
    listen: () =>
      new Promise<string>((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
      ),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

function workload(url: string, options: Partial<ConstructorParameters<typeof Workload>[0]> = {}): Workload {
  const t0 = performance.now();
  return new Workload({
    design: "stateless",
    url,
    users: 4,
    seed: 1,
    concurrent: false,
    tag: "test",
    clock: () => performance.now() - t0,
    ...options,
  });
}

describe("a cell never runs short-handed", () => {
  it("waits until every user has registered and logged in before the fault", async () => {
    const server = stubServer(1);
    const users = workload(await server.listen());
    users.start();
    expect(await users.waitForSetup(Date.now() + 5000)).toEqual([]);
    expect(users.users.every((user) => user.setUp)).toBe(true);
    await users.stop();
    await server.close();
  });

  it("tries a failed registration again, and leaves the failed try out of the workload", async () => {
    const server = stubServer(1, 2);
    const users = workload(await server.listen(), { setupTries: 3 });
    users.start();
    expect(await users.waitForSetup(Date.now() + 5000)).toEqual([]);
    await users.stop();
    await server.close();
    const registrations = users.operations.filter((operation) => operation.name === "register");
    expect(registrations).toHaveLength(4 + 2);
    expect(registrations.filter((operation) => operation.outcome === "error")).toEqual([
      expect.objectContaining({ status: 500, workload: false }),
      expect.objectContaining({ status: 500, workload: false }),
    ]);
    expect(registrations.filter((operation) => operation.workload && operation.outcome === "ok")).toHaveLength(4);
  });

  it("takes a spare logout that the design refuses (401) as the design's answer, not as a user that could not set up", async () => {
    const server = stubServer(1);
    const users = workload(await server.listen(), { design: "stateful", setupTries: 3 });
    users.start(async (user) => user.prepareSpareLogin());
    expect(await users.waitForSetup(Date.now() + 5000)).toEqual([]);
    await users.stop();
    await server.close();
    const logouts = users.operations.filter((operation) => operation.name === "logout");
    expect(logouts).toHaveLength(4); // refused once each, never tried again
    expect(logouts.every((operation) => operation.outcome === "refused" && operation.workload)).toBe(true);
  });

  it("says which user could not register, and why, as soon as one cannot", async () => {
    const server = stubServer(1);
    const users = workload(await server.listen(), { plantRegistrationFailure: true });
    const started = Date.now();
    users.start();
    const unready = await users.waitForSetup(Date.now() + 5000);
    expect(Date.now() - started).toBeLessThan(2500); // the 1 s deadline, not the 5 s bound
    expect(unready).toHaveLength(4);
    expect(unready[0]).toMatch(
      /^user \d's registration got no answer within the 1 s deadline \(ECONNREFUSED; \d+ attempts from \d+ ms\)$/,
    );
    await users.stop();
    await server.close();
  });
});

describe("a note says when the failures came, against the fault's own times", () => {
  const fault = faultRecord("crash", { name: "redis-session-1", role: "instance", port: 4000 }, 1000, 2000);
  const failed = (start: number, end: number): Operation => ({
    user: 0,
    name: "upload",
    start,
    end,
    outcome: "error",
    attempts: [{ start, end, error: "abandoned" }],
    epoch: 1,
    workload: true,
  });
  const cell = (operations: Operation[], withFault: Fault | null = fault): Pick<CellResult, "errors" | "history"> => {
    const history: History = {
      design: "redis-session",
      scenario: "crash",
      users: 8,
      operations,
      fault: withFault ?? undefined,
      durationMs: 3000,
    };
    return { errors: operations.length, history };
  };

  it("says 'before the fault' for failures that ended before it began, never 'during'", () => {
    expect(failedOperationsText(cell([failed(100, 900), failed(300, 990)]))).toBe(
      "2 operations failed after their retries, all before the fault (the fault lasted from 1000 ms to 2000 ms)",
    );
  });

  it("counts a failure that overlaps the fault as during it, and one that started after it healed as after it", () => {
    expect(
      failedOperationsText(cell([failed(100, 900), failed(900, 1900), failed(1500, 1800), failed(2100, 3000)])),
    ).toBe(
      "4 operations failed after their retries: 1 before the fault, 2 during it and 1 after it (the fault lasted from 1000 ms to 2000 ms)",
    );
    expect(failedOperationsText(cell([failed(1200, 2200)]))).toBe(
      "1 operation failed after its retries, during the fault (the fault lasted from 1000 ms to 2000 ms)",
    );
  });

  it("says so when the scenario has no fault at all", () => {
    expect(failedOperationsText(cell([failed(100, 1100)], null))).toBe(
      "1 operation failed after its retries, in a scenario without a fault",
    );
  });
});

describe("a user the fault does not touch", () => {
  it("starts at most 10 loops a second after its first 6, instead of running flat out", async () => {
    const server = stubServer(0);
    const users = workload(await server.listen(), { users: 2, loopsPerSecond: 10, loopBurst: 6 });
    users.start();
    await users.waitForLoops(1, Date.now() + 5000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await users.stop();
    await server.close();
    // One second later: at most 6 + 10 (and one more begun at the edge), where a stub answering
    // at once let each user run a few hundred loops.
    for (const count of users.loopsStarted()) {
      expect(count).toBeGreaterThanOrEqual(10);
      expect(count).toBeLessThanOrEqual(6 + 10 + 2);
    }
  });
});

describe("a busy machine does not change a verdict", () => {
  it("paces the concurrent bursts: two users at a time, each user's 10 uploads still at once", async () => {
    const server = stubServer(40);
    const users = workload(await server.listen(), { concurrent: true, users: 6, burstsAtOnce: 2 });
    users.start();
    await users.waitForLoops(1, Date.now() + 10_000);
    await users.stop();
    await server.close();
    expect(server.inFlight.most).toBeLessThanOrEqual(20); // not 60: the users took turns
    const first = server.arrivals[0].user;
    const burst = server.arrivals.filter((arrival) => arrival.user === first).slice(0, 10);
    // The race inside one user's burst stays: its 10 uploads arrived within a few milliseconds of each other.
    expect(burst[9].at - burst[0].at).toBeLessThan(30);
  });

  it("runs one and a half cells per idle core, at least one and never more than asked", () => {
    expect(quietJobs(2)).toBe(3); // what a quiet 2-core machine may run
    expect(quietJobs(16)).toBe(6);
    expect(jobsForHeadroom(3, { idle_cores: 1.8 })).toBe(3); // a quiet 2-core machine
    expect(jobsForHeadroom(3, { idle_cores: 0 })).toBe(1); // beside two CPU hogs
    expect(jobsForHeadroom(3, { idle_cores: 0.5 })).toBe(1);
    expect(jobsForHeadroom(3, { idle_cores: 1.1 })).toBe(2);
    expect(jobsForHeadroom(4, { idle_cores: 7.9 })).toBe(4);
  });
});
