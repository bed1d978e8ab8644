// The live view's sentences on hand-made histories and fault records: an anomaly is explained by
// the fault that was in effect when it arose, read from the fault's fields, and by the design's
// own trap (the save race, the stale copy) only when no fault explains it
// (docs/instructor-guide.md, "The 10-minute demo"; docs/how-the-lab-works.md, "The scenarios").

import { explainAnomaly, sentinelSentence } from "../dashboard/narrator";
import { Operation } from "../workbench/history";
import { faultRecord, frozenPrimary } from "../../test-support/fault-records";

function op(partial: Partial<Operation> & Pick<Operation, "name" | "start" | "end">): Operation {
  return { user: 3, outcome: "ok", status: 200, epoch: 1, workload: true, attempts: [], ...partial };
}

/** User 3 logs in, uploads (acknowledged by the Redis node on `storePort`), and its session view misses the upload. */
function lostFromView(uploadAt: number, storePort: number): Operation[] {
  return [
    op({ name: "login", start: 0, end: 10, servedBy: "redis-session-1" }),
    op({
      name: "upload",
      start: uploadAt - 5,
      end: uploadAt,
      status: 201,
      fileId: "f1",
      filename: "user3-live1-upload7.txt",
      storeNode: `127.0.0.1:${storePort}`,
    }),
    op({ name: "session", start: uploadAt + 9000, end: uploadAt + 9010, filesUploaded: [] }),
  ];
}

const anomaly = (time: number, expected: string, operation = "session") => ({
  time_ms: time,
  user: 3,
  operation,
  instance: "redis-session-3",
  status: 200,
  expected,
});

const freeze = frozenPrimary(1000, 8000);

describe("the live view's narrator", () => {
  it("explains a session view that misses an upload acknowledged after a freeze by the freeze, never by the save race", () => {
    const operations = lostFromView(9000, 25509);
    const sentence = explainAnomaly(
      "redis-session",
      {
        rule: "session_state_lost",
        anomaly: anomaly(18010, "the session view to list upload user3-live1-upload7.txt"),
      },
      operations,
      [freeze],
    );
    expect(sentence).toContain("acknowledged by redis-1 after its freeze");
    expect(sentence).toContain("redis-2, promoted in its place, never had it");
    expect(sentence).not.toMatch(/saved the whole session/);
  });

  it("falls back to the save race when no fault was in effect", () => {
    const sentence = explainAnomaly(
      "redis-session",
      { rule: "session_state_lost", anomaly: anomaly(9100, "the session view to list upload user3-live1-upload7.txt") },
      lostFromView(90, 25509),
      [{ ...freeze, began_ms: 60_000, ended_ms: 65_000 }],
    );
    expect(sentence).toContain("two requests saved the whole session at once");
  });

  /** User 3 logged in on memory-session-2, then `killed` was killed, then `answered` refused the session. */
  function memorySessionRefused(killed: string, answered: string): string {
    const kill = faultRecord("crash", { name: killed, role: "instance" }, 50, null, {
      keeps: ["users", "files"],
      loses: ["sessions"],
    });
    const operations = [
      op({ name: "login", start: 0, end: 10, servedBy: "memory-session-2" }),
      op({ name: "list", start: 60, end: 70, status: 401, outcome: "refused", code: "session_not_found" }),
    ];
    const refused = { ...anomaly(70, "accepted", "list"), status: 401, instance: answered };
    return explainAnomaly("memory-session", { rule: "sessions_broken", anomaly: refused }, operations, [kill]);
  }

  it("names the instance a memory session lived in when that instance was killed", () => {
    expect(memorySessionRefused("memory-session-2", "memory-session-2")).toBe(
      "User 3's session lived in memory-session-2's memory; memory-session-2 was killed: 401 session_not_found.",
    );
  });

  it("does not blame a kill of another instance for a memory session", () => {
    expect(memorySessionRefused("memory-session-1", "memory-session-3")).toContain(
      "memory-session-3 answered, and it has never seen that session",
    );
  });

  it("says a promotion and a demotion from the Sentinels' own messages", () => {
    const nameOf = (port: string) => ({ "25509": "redis-1", "25510": "redis-2" })[port] ?? port;
    expect(sentinelSentence("+switch-master", "lab 127.0.0.1 25509 127.0.0.1 25510", nameOf)?.text).toContain(
      "promoted redis-2 in place of redis-1",
    );
    expect(
      sentinelSentence("+convert-to-slave", "slave 127.0.0.1:25509 127.0.0.1 25509 @ lab 127.0.0.1 25510", nameOf)
        ?.text,
    ).toContain("The old primary redis-1 was demoted to a replica");
    expect(sentinelSentence("+sentinel", "sentinel abc 127.0.0.1 26000 @ lab 127.0.0.1 25509", nameOf)).toBeUndefined();
  });
});
