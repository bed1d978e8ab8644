// The checker on hand-made histories: each kind of anomaly is detected, with the right first
// anomaly; a clean history survives; errors without loss read degraded
// (docs/how-the-lab-works.md, "The figures of a cell" and "The verdicts").

import { CellResult } from "../lab/cell";
import { check } from "../workbench/checker";
import { History, Operation } from "../workbench/history";
import { agreement } from "../lab/agreement";
import { frozenPrimary } from "../../test-support/fault-records";
import { cellNotes } from "../lab/notes";

let clock = 0;
function op(partial: Partial<Operation> & Pick<Operation, "name">): Operation {
  clock += 10;
  const start = partial.start ?? clock;
  const end = partial.end ?? start + 5;
  const status = partial.status ?? (partial.outcome === "error" ? 503 : 200);
  return {
    user: 0,
    outcome: "ok",
    epoch: 1,
    workload: true,
    servedBy: "instance-1",
    attempts: partial.attempts ?? [{ start, end, status, servedBy: partial.servedBy ?? "instance-1" }],
    ...partial,
    start,
    end,
    status,
  };
}

function history(operations: Operation[]): History {
  return { design: "test", scenario: "test", users: 2, operations, durationMs: clock + 100 };
}

/** A user who registers, logs in, uploads a file, sees it in its session, and reads it back. */
function cleanUser(user: number): Operation[] {
  return [
    op({ user, name: "register", status: 201, epoch: 0 }),
    op({ user, name: "login" }),
    op({ user, name: "upload", status: 201, key: `k${user}`, fileId: `f${user}`, filename: `k${user}.txt` }),
    op({ user, name: "session", filesUploaded: [`f${user}`] }),
    op({ user, name: "list", filenames: [`k${user}.txt`] }),
    op({ user, name: "readback-login", workload: false }),
    op({ user, name: "readback", fileId: `f${user}`, workload: false }),
    op({ user, name: "readback-list", filenames: [`k${user}.txt`], workload: false }),
  ];
}

describe("the checker", () => {
  beforeEach(() => {
    clock = 0;
  });

  it("lets a clean history survive", () => {
    const result = check(history([...cleanUser(0), ...cleanUser(1)]));
    expect(result.verdict).toBe("survived");
    expect(result).toMatchObject({
      ops: 10,
      ok: 10,
      errors: 0,
      sessions_broken: 0,
      session_state_lost: 0,
      writes_lost: 0,
      duplicate_writes: 0,
      revocations_lost: 0,
      availability: 1,
      first_anomaly: null,
    });
  });

  it("counts each operation of the workload, and the acknowledged uploads a lost write is out of", () => {
    const operations = [
      ...cleanUser(0),
      ...cleanUser(1).map((operation) =>
        operation.name === "upload" ? { ...operation, outcome: "error" as const, status: 503 } : operation,
      ),
    ];
    const result = check(history(operations));
    expect(result.ops_by_operation).toEqual({ register: 2, login: 2, upload: 2, session: 2, list: 2, logout: 0 });
    expect(result.acknowledged_uploads).toBe(1); // the read-back is not part of the workload
  });

  it("reads errors without any loss as degraded", () => {
    const operations = cleanUser(0);
    operations.splice(
      4,
      0,
      op({
        name: "list",
        outcome: "error",
        status: 503,
        attempts: [
          { start: 1, end: 2, status: 503 },
          { start: 3, end: 4, status: 503 },
        ],
      }),
    );
    const result = check(history(operations));
    expect(result.verdict).toBe("degraded");
    expect(result.errors).toBe(1);
    expect(result.retries).toBe(1);
    expect(result.first_anomaly).toBeNull();
  });

  it("finds a lost write: acknowledged, then not readable at the read-back", () => {
    const operations = cleanUser(0).map((operation) =>
      operation.name === "readback"
        ? { ...operation, outcome: "refused" as const, status: 404, servedBy: "instance-2" }
        : operation,
    );
    const result = check(history(operations));
    expect(result.verdict).toBe("failed");
    expect(result.writes_lost).toBe(1);
    expect(result.first_anomaly).toMatchObject({ user: 0, operation: "readback", instance: "instance-2", status: 404 });
    expect(result.first_anomaly?.expected).toContain("k0.txt");
  });

  it("names the Redis node that acknowledged a lost write, where the server said (replicated Redis)", () => {
    const operations = cleanUser(0).map((operation) =>
      operation.name === "upload"
        ? { ...operation, storeNode: "127.0.0.1:25509" }
        : operation.name === "readback"
          ? { ...operation, outcome: "refused" as const, status: 404 }
          : operation,
    );
    expect(check(history(operations)).first_anomaly?.expected).toContain("by the Redis node on port 25509");
    const frozen = {
      ...history(operations),
      fault: frozenPrimary(0, 5000),
    };
    expect(check(frozen).first_anomaly?.expected).toContain("by the old primary on port 25509");
  });

  it("counts every acknowledged upload as lost when the read-back login is refused", () => {
    const operations = cleanUser(0)
      .filter((operation) => operation.name !== "readback")
      .map((operation) =>
        operation.name === "readback-login" ? { ...operation, outcome: "refused" as const, status: 401 } : operation,
      );
    const result = check(history(operations));
    expect(result.writes_lost).toBe(1);
    expect(result.first_anomaly?.operation).toBe("readback-login");
  });

  it("finds a broken session: a 401 after a successful login", () => {
    const operations = cleanUser(0);
    operations.splice(
      4,
      0,
      op({ name: "list", outcome: "refused", status: 401, code: "session_not_found", servedBy: "instance-3" }),
    );
    const result = check(history(operations));
    expect(result.verdict).toBe("failed");
    expect(result.sessions_broken).toBe(1);
    expect(result.first_anomaly).toMatchObject({ operation: "list", instance: "instance-3", status: 401 });
  });

  it("names a broken spare login as such: 'spare logout', not the user's own session", () => {
    const operations = cleanUser(0);
    operations.splice(
      2,
      0,
      op({ name: "login", spare: true }),
      op({ name: "logout", spare: true, outcome: "refused", status: 401, servedBy: "instance-2" }),
    );
    const result = check(history(operations));
    expect(result.sessions_broken).toBe(1);
    expect(result.first_anomaly).toMatchObject({ operation: "spare logout", instance: "instance-2", status: 401 });
  });

  it("finds a stale session view: an acknowledged upload missing from a later view of the same session", () => {
    const operations = cleanUser(0).map((operation) =>
      operation.name === "session" ? { ...operation, filesUploaded: [], servedBy: "instance-2" } : operation,
    );
    const result = check(history(operations));
    expect(result.verdict).toBe("failed");
    expect(result.session_state_lost).toBe(1);
    expect(result.first_anomaly).toMatchObject({ operation: "session", instance: "instance-2" });
  });

  it("reads the user's session back where the store is now: what a frozen primary acknowledged and lost fails the cell", () => {
    // The user's own instance still reads the old primary, so its views list the upload; only the
    // read-back instance, connected to the new primary, sees the session without it.
    const withView = (partial: Partial<Operation>) => {
      const operations = cleanUser(0); // first: the read-back comes after the user's own operations
      const view = op({ name: "readback-session", workload: false, servedBy: "redis-session-readback", ...partial });
      operations.splice(5, 0, view);
      return check(history(operations));
    };
    const stale = withView({ filesUploaded: [] });
    expect(stale.verdict).toBe("failed");
    expect(stale.session_state_lost).toBe(1);
    expect(stale.first_anomaly).toMatchObject({ operation: "readback-session", instance: "redis-session-readback" });
    const forgotten = withView({ outcome: "refused", status: 401 });
    expect(forgotten.verdict).toBe("failed");
    expect(forgotten.sessions_broken).toBe(1);
    // The read-back is not workload: it changes neither the operations counted nor the errors.
    const kept = withView({ filesUploaded: ["f0"] });
    expect(kept).toMatchObject({ verdict: "survived", ops: 5, session_state_lost: 0, sessions_broken: 0 });
  });

  it("does not expect a new session to list the uploads of an earlier one", () => {
    const operations = cleanUser(0).map((operation) =>
      operation.name === "session" ? { ...operation, epoch: 2, filesUploaded: [] } : operation,
    );
    expect(check(history(operations)).session_state_lost).toBe(0);
  });

  it("does not expect a view that started before the upload was acknowledged to list it", () => {
    const operations = cleanUser(0);
    const upload = operations.find((operation) => operation.name === "upload") as Operation;
    const view = operations.find((operation) => operation.name === "session") as Operation;
    view.filesUploaded = [];
    view.start = upload.end - 1; // overlapping: the view may or may not see it
    expect(check(history(operations)).session_state_lost).toBe(0);
  });

  it("finds a duplicate write: one file name twice in the final list", () => {
    const operations = cleanUser(0).map((operation) =>
      operation.name === "readback-list" ? { ...operation, filenames: ["k0.txt", "k0.txt"] } : operation,
    );
    const result = check(history(operations));
    expect(result.verdict).toBe("failed");
    expect(result.duplicate_writes).toBe(1);
    expect(result.first_anomaly?.operation).toBe("readback-list");
  });

  it("finds a revived revoked token: the logged-out spare token accepted", () => {
    const operations = [...cleanUser(0), op({ name: "probe", workload: false, status: 200 })];
    const result = check(history(operations));
    expect(result.verdict).toBe("failed");
    expect(result.revocations_lost).toBe(1);
    expect(result.first_anomaly?.operation).toBe("probe");
    const refused = [
      ...cleanUser(0),
      op({ name: "probe", workload: false, outcome: "refused", status: 401, code: "token_revoked" }),
    ];
    expect(check(history(refused)).verdict).toBe("survived"); // the expected 401 is neither an error nor a broken session
  });

  it("reports the earliest anomaly first", () => {
    const operations = [
      ...cleanUser(0).map((operation) =>
        operation.name === "readback-list" ? { ...operation, filenames: ["k0.txt", "k0.txt"] } : operation,
      ),
      op({ user: 1, name: "register", epoch: 0 }),
      op({ user: 1, name: "login" }),
      op({ user: 1, name: "list", outcome: "refused", status: 401, start: 1, end: 2 }),
    ];
    expect(check(history(operations)).first_anomaly).toMatchObject({ user: 1, operation: "list", time_ms: 2 });
  });

  it("returns every anomaly, earliest first, each with the figure it counts toward, and a lost write with its upload", () => {
    const operations = [
      ...cleanUser(0).map((operation) =>
        operation.name === "readback"
          ? { ...operation, outcome: "refused" as const, status: 404 }
          : operation.name === "readback-list"
            ? { ...operation, filenames: ["k0.txt", "k0.txt"] }
            : operation,
      ),
      op({ user: 1, name: "register", epoch: 0 }),
      op({ user: 1, name: "login" }),
      op({ user: 1, name: "list", outcome: "refused", status: 401, start: 1, end: 2 }),
    ];
    const upload = operations.find((operation) => operation.name === "upload") as Operation;
    const result = check(history(operations));
    expect(result.anomalies.map((anomaly) => [anomaly.figure, anomaly.user])).toEqual([
      ["sessions_broken", 1],
      ["writes_lost", 0],
      ["duplicate_writes", 0],
    ]);
    expect(result.anomalies[1].upload).toEqual({ filename: "k0.txt", acknowledged_ms: Math.round(upload.end) });
    // first_anomaly keeps its shape: the figure and the upload are the list's.
    expect(Object.keys(result.first_anomaly ?? {}).sort()).toEqual(
      ["expected", "instance", "operation", "status", "time_ms", "user"].sort(),
    );
    expect(check(history(cleanUser(0))).anomalies).toEqual([]);
  });

  it("measures availability, recovery, the slowest failed attempt and the instances each user saw", () => {
    const operations = [
      op({ user: 0, name: "list", start: 0, end: 10, servedBy: "a" }),
      op({
        user: 0,
        name: "list",
        start: 10,
        end: 1010,
        outcome: "error",
        status: 503,
        attempts: [
          { start: 10, end: 40, status: 503, code: "store_unavailable" },
          { start: 500, end: 1010, error: "abandoned" },
        ],
      }),
      op({
        user: 0,
        name: "list",
        start: 1010,
        end: 1020,
        servedBy: "b",
        attempts: [
          { start: 1010, end: 1015, status: 503, code: "draining" },
          { start: 1015, end: 1020, status: 200, servedBy: "b" },
        ],
      }),
      op({ user: 1, name: "list", start: 5, end: 15, servedBy: "a" }),
    ];
    const result = check(history(operations));
    expect(result.availability).toBe(0.5); // two of four succeeded at the first try
    expect(result.recovery_ms).toBe(1005); // from 15 ms to 1020 ms without a success
    expect(result.max_failed_attempt_ms).toBe(510);
    expect(result.abandoned_attempts).toBe(1);
    expect(result.failed_attempts_not_503).toBe(2); // the abandoned one, and the 503 that was "draining"
    expect(result.instances_seen).toBe(1); // user 1 saw only instance a
  });
});

describe("the agreement with the expected matrix", () => {
  const cell = (
    design: CellResult["design"],
    scenario: CellResult["scenario"],
    verdict: CellResult["verdict"],
    figures: Partial<CellResult> = {},
  ): CellResult => ({ design, scenario, verdict, duration_ms: 1000, errors: 3, ...figures });

  it("lets a † cell read degraded, as a timing swap (the reports' timing note)", () => {
    expect(agreement(cell("redis-session", "crash", "degraded"))).toEqual({ agrees: true, swap: true });
    expect(cellNotes(cell("redis-session", "crash", "degraded"))).toEqual([
      {
        kind: "timing",
        text: "timing note: degraded where survived is expected (†): 3 operations failed after their retries",
      },
    ]);
  });

  it("calls degraded in an unmarked cell a disagreement", () => {
    expect(agreement(cell("redis-session", "baseline", "degraded")).agrees).toBe(false);
  });

  it("lets a replicated-store cell marked degraded† read degraded or survived, whatever its failed attempts were", () => {
    const timedOut = { max_failed_attempt_ms: 1000, failed_attempts_not_503: 5, abandoned_attempts: 5 }; // a frozen primary: timeouts, not prompt 503s
    expect(agreement(cell("redis-session", "store-failover", "degraded", timedOut))).toEqual({ agrees: true });
    expect(agreement(cell("redis-session", "store-freeze-safe", "survived"))).toEqual({ agrees: true, swap: true });
    expect(cellNotes(cell("redis-session", "store-freeze-safe", "survived"))[0].text).toMatch(
      /^timing note: survived where degraded is expected/,
    );
    expect(agreement(cell("redis-session", "store-freeze", "degraded")).agrees).toBe(false); // a freeze must lose acknowledged writes
    expect(agreement(cell("redis-session", "store-failover", "failed")).note).toBe(
      "expected degraded (or survived), got failed",
    );
  });

  it("accepts a store-outage only when every failed attempt was a prompt 503, and names the rule that was broken", () => {
    expect(
      agreement(
        cell("jwt", "store-outage", "degraded", {
          max_failed_attempt_ms: 80,
          failed_attempts_not_503: 0,
          abandoned_attempts: 0,
        }),
      ),
    ).toEqual({ agrees: true });
    const abandoned = agreement(
      cell("jwt", "store-outage", "degraded", {
        max_failed_attempt_ms: 80,
        failed_attempts_not_503: 0,
        abandoned_attempts: 2,
      }),
    );
    expect(abandoned.agrees).toBe(false);
    expect(abandoned.note).toContain("2 attempt(s) got no answer before the clients' 1 s deadline");
    expect(abandoned.note).not.toContain("limit 500"); // 80 ms broke no rule: not worth a word
    expect(
      agreement(
        cell("jwt", "store-outage", "degraded", {
          max_failed_attempt_ms: 700,
          failed_attempts_not_503: 0,
          abandoned_attempts: 0,
        }),
      ).note,
    ).toContain("took 700 ms (limit 500)");
  });
});
