// The three reports of a run say the same thing: the terminal, reports/survival.md and
// reports/survival.html render one list of notes per cell (a rerun, a † timing swap, a user seen
// by one instance only), and the HTML also lists every anomaly of a failed cell and marks each lost
// upload on its user's lane (docs/how-the-lab-works.md, "Reading the reports"). The cells are
// built by hand, as checker.test.ts builds histories.

import { CellResult } from "../lab/cell";
import { cellNotes } from "../lab/notes";
import { markdownReport, RunInfo, textReport, toJson } from "../lab/report";
import { htmlReport } from "../lab/report-html";
import { check } from "../workbench/checker";
import { History, Operation } from "../workbench/history";
import { Fault } from "../workbench/nemesis";
import { frozenPrimary } from "../../test-support/fault-records";

const LOAD = { load_average: 3.1, event_loop_delay_ms: 12 };

function op(partial: Partial<Operation> & Pick<Operation, "name" | "user" | "start">): Operation {
  const end = partial.end ?? partial.start + 5;
  const status = "status" in partial ? partial.status : 200;
  return {
    outcome: "ok",
    epoch: 1,
    workload: true,
    servedBy: "redis-session-1",
    attempts: [{ start: partial.start, end, status, servedBy: partial.servedBy ?? "redis-session-1" }],
    ...partial,
    end,
    status,
  };
}

/** A user who logs in, uploads, reads its session and lists its files, and whose upload reads back. */
function cleanUser(user: number, at: number): Operation[] {
  return [
    op({ user, name: "register", start: at, status: 201, epoch: 0 }),
    op({ user, name: "login", start: at + 10 }),
    op({ user, name: "upload", start: at + 20, status: 201, fileId: `f${user}`, filename: `k${user}.txt` }),
    op({ user, name: "session", start: at + 30, filesUploaded: [`f${user}`] }),
    op({ user, name: "list", start: at + 40, filenames: [`k${user}.txt`] }),
    op({ user, name: "readback-login", start: 5000 + at, workload: false }),
    op({ user, name: "readback", start: 5010 + at, fileId: `f${user}`, workload: false }),
    op({
      user,
      name: "probe",
      start: 5020 + at,
      status: 401,
      outcome: "refused",
      code: "token_revoked",
      workload: false,
    }),
  ];
}

function history(scenario: string, operations: Operation[], fault?: Fault): History {
  return { design: "redis-session", scenario, users: 2, operations, fault, durationMs: 6000 };
}

/** A measured cell: the checker's judgement of `operations`, with what the lab adds. */
function measured(
  scenario: CellResult["scenario"],
  operations: Operation[],
  extra: Partial<CellResult> = {},
  fault?: Fault,
): CellResult {
  const judged = history(scenario, operations, fault);
  return {
    design: "redis-session",
    scenario,
    duration_ms: 6000,
    load: LOAD,
    ...check(judged),
    history: judged,
    ...extra,
  };
}

const freeze = frozenPrimary(318, 2693, { keeps: ["sessions", "users"], loses: ["files"], held_ms: 2000 });

const crash: Fault = {
  ...freeze,
  kind: "crash",
  target: { name: "redis-session-1", role: "instance", port: 25601, pid: 4243 },
  loses: [],
  keeps: ["sessions"],
};

/** store-freeze, failed as expected: two uploads acknowledged by the frozen primary are lost, and user 1's session is refused. */
function failedCell(): CellResult {
  const operations = [...cleanUser(0, 0), ...cleanUser(1, 2)];
  const lose = (upload: Operation, at: number) => {
    const acknowledged = {
      ...upload,
      start: at,
      end: at + 4,
      fileId: `lost-${at}`,
      filename: `lost-${at}.txt`,
      storeNode: "127.0.0.1:25509",
    };
    const read = op({
      user: upload.user,
      name: "readback",
      start: 5500 + at,
      status: 404,
      outcome: "error",
      fileId: `lost-${at}`,
      workload: false,
    });
    return [acknowledged, read];
  };
  const [upload0, upload1] = operations.filter((each) => each.name === "upload");
  operations.push(...lose(upload0, 1200), ...lose(upload1, 1500));
  operations.push(
    op({ user: 1, name: "session", start: 2000, status: 401, outcome: "refused", code: "session_not_found" }),
  );
  return measured("store-freeze", operations, {}, freeze);
}

/** crash, a † cell that read degraded: one upload abandoned at the deadline, one answered 503 every time. */
function timingSwapCell(): CellResult {
  const operations = [...cleanUser(0, 0), ...cleanUser(1, 2)];
  operations.push(
    op({
      user: 0,
      name: "upload",
      start: 400,
      end: 1402,
      status: undefined,
      servedBy: undefined,
      outcome: "error",
      attempts: [
        { start: 400, end: 600, error: "ECONNREFUSED" },
        { start: 620, end: 1402, error: "abandoned" },
      ],
    }),
    op({ user: 1, name: "upload", start: 500, end: 512, status: 503, code: "store_unavailable", outcome: "error" }),
  );
  return measured("crash", operations, {}, crash);
}

/** store-restart-aof, agreed on its rerun; its first run failed. */
function rerunCell(): CellResult {
  return measured("store-restart-aof", [...cleanUser(0, 0), ...cleanUser(1, 2)], {
    first_run: {
      verdict: "failed",
      note: "expected survived (or degraded), got failed",
      load: LOAD,
      first_anomaly: {
        time_ms: 812,
        user: 3,
        operation: "readback",
        instance: "redis-session-1",
        status: 404,
        expected: "upload k3.txt (acknowledged at 640 ms) to be readable at the read-back",
      },
    },
  });
}

/** round-robin where some user was served by one instance only. */
function oneInstanceCell(): CellResult {
  return measured("round-robin", [...cleanUser(0, 0), ...cleanUser(1, 2)]);
}

const INFO: RunInfo = {
  date: "2026-12-07T16:22:30.810Z",
  machine: { cores: 2, platform: "linux", arch: "x64", cpu: "test" },
  node: "20.20.2",
  redis: "7.0.15",
  seed: 7,
  options: { design: "redis-session", scenario: "all", jobs: 2, vus: 2, repeat: 1, lb: "builtin" },
  wall_s: 12,
};

/** The text a browser shows: tags dropped, entities decoded, whitespace folded. */
function visible(html: string): string {
  return html
    .replace(/<[^>]+>/g, "")
    .replace(/&#(\d+);/g, (_, code) => String.fromCharCode(Number(code)))
    .replace(/\s+/g, " ");
}

const titles = (html: string) =>
  [...html.matchAll(/<title>([^<]*)<\/title>/g)].map((match) => visible(match[1]).trim());

describe("the reports of a run", () => {
  const cells = [failedCell(), timingSwapCell(), rerunCell(), oneInstanceCell()];
  const terminal = textReport(INFO, cells).replace(/\s+/g, " ");
  const markdown = markdownReport(INFO, cells).replace(/\s+/g, " ");
  const html = htmlReport(INFO, cells);
  const shown = visible(html);

  it("makes a rerun note, a timing note and a one-instance note from the cells", () => {
    expect(cells.flatMap((cell) => cellNotes(cell).map((note) => note.kind))).toEqual([
      "timing",
      "rerun",
      "one-instance",
    ]);
    expect(cellNotes(cells[1])[0].text).toBe(
      "timing note: degraded where survived is expected (†): 2 operations failed after their retries, all during the fault (the fault lasted from 318 ms to 2693 ms); load average 3.1, the lab's event-loop delay 12 ms",
    );
  });

  it("prints every note in the same words in the terminal, the Markdown file and the HTML", () => {
    const notes = cells.flatMap((cell) => cellNotes(cell).map((note) => `${cell.scenario}: ${note.text}`));
    expect(notes.length).toBe(3);
    for (const note of notes) {
      expect(terminal).toContain(note);
      expect(markdown).toContain(note);
      expect(shown).toContain(note);
    }
    expect(shown).toContain("agreed on a rerun (survived); the first run read failed (at 812 ms, user 3's readback");
  });

  it("keeps the terminal's report within 120 columns, the notes' wrapped lines included", () => {
    const lines = textReport(INFO, cells).split("\n");
    expect(lines.filter((line) => line.length > 120)).toEqual([]);
    expect(lines.filter((line) => line.startsWith(" ".repeat(10))).length).toBeGreaterThan(0); // some note did wrap
  });

  it("marks the cell that agreed on a rerun with r, and the timing swap with †, in all three", () => {
    expect(terminal).toMatch(/ okr /);
    expect(terminal).toMatch(/ deg† /);
    expect(markdown).toContain("| survived r |");
    expect(markdown).toContain("| degraded† |");
    expect(html).toMatch(/>survived r<\/a><\/td>/);
    expect(html).toMatch(/>degraded†<\/a><\/td>/);
  });

  it("lists every anomaly of a failed cell in the HTML, not only the first", () => {
    const failed = cells[0];
    expect(failed.anomalies?.map((each) => each.figure)).toEqual(["sessions_broken", "writes_lost", "writes_lost"]);
    const list = /<ol class="anomalies">(.*?)<\/ol>/s.exec(html)?.[1] ?? "";
    expect(list.match(/<li>/g)).toHaveLength(3);
    expect(shown).toContain("Why it failed: 3 anomalies (broken 1, writes lost 2), earliest first:");
    expect(visible(list)).toContain(
      "writes lost: at 6705 ms, user 0's readback on redis-session-1 was answered 404; expected upload lost-1200.txt (acknowledged at 1204 ms by the old primary on port 25509) to be readable at the read-back.",
    );
  });

  it("marks each lost upload on its user's lane, at the moment it was acknowledged, and names the mark in the legend", () => {
    const marks = [
      ...html.matchAll(/<path class="lost-upload" d="M([\d.]+),([\d.]+)[^"]*"[^>]*><title>([^<]*)<\/title>/g),
    ];
    expect(marks).toHaveLength(2);
    expect(visible(marks[0][3])).toContain("lost upload lost-1200.txt: acknowledged at 1,204 ms");
    expect(visible(marks[1][3])).toContain("lost upload lost-1500.txt: acknowledged at 1,504 ms");
    expect(Number(marks[1][1])).toBeGreaterThan(Number(marks[0][1])); // later in time, further right
    expect(Number(marks[1][2])).toBeGreaterThan(Number(marks[0][2])); // user 1's lane, below user 0's
    expect(shown).toContain("lost upload (where it was acknowledged)");
  });

  it("names the read-back and the probe in the legend, and draws the probe's expected 401 apart from a refusal", () => {
    expect(shown).toContain("Faded, after the run: the read-back (every acknowledged upload read again)");
    expect(shown).toContain("the spare login's probe (its 401 is what should happen)");
    expect(titles(html)).toContain(
      "probe: 401 token_revoked, as it should be: the logged-out spare login refused user 0, on redis-session-1, at 5,020 ms",
    );
  });

  it("writes the fault's range forwards, with thousands separators", () => {
    expect(shown).toContain(
      "Fault from 318 ms to 2,693 ms: SIGSTOP the Redis primary redis-1 on port 25509 for 2,000 ms",
    );
    expect(shown).not.toMatch(/\(318 to 2693 ms\)/);
  });

  it("says in each mark's hover text whether the request timed out or what it was answered", () => {
    const all = titles(html);
    expect(all).toContain("upload: no answer, abandoned at the 1 s deadline (1,002 ms) user 0, at 400 ms, 2 attempts");
    expect(all).toContain("upload: 503 store_unavailable after 12 ms user 1, on redis-session-1, at 500 ms");
    expect(all).toContain("session: 401 session_not_found user 1, on redis-session-1, at 2,000 ms");
  });

  it("draws rows at least 14 px apart", () => {
    const rows = [...html.matchAll(/<text x="2" y="(\d+)"[^>]*>user (\d+)<\/text>/g)].map((match) => Number(match[1]));
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(rows[1] - rows[0]).toBeGreaterThanOrEqual(14);
  });

  it("says when a timing swap's errors came: before the fault, during it or after it healed", () => {
    const early = timingSwapCell();
    const judged = early.history as History;
    judged.operations.push(op({ user: 1, name: "list", start: 100, end: 300, status: 503, outcome: "error" }));
    const again = measured("crash", judged.operations, {}, crash);
    expect(cellNotes(again)[0].text).toContain(
      "3 operations failed after their retries: 1 before the fault and 2 during it (the fault lasted from 318 ms to 2693 ms)",
    );
  });

  it("says an expectation once where anomalies in a row share it, so that a cell with hundreds stays readable", () => {
    const operations = [...cleanUser(0, 0), ...cleanUser(1, 2)];
    for (const start of [2000, 2100])
      operations.push(op({ user: 1, name: "list", start, status: 401, outcome: "refused", code: "session_not_found" }));
    const html = visible(htmlReport(INFO, [measured("store-freeze", operations, {}, freeze)]));
    expect(html).toContain(
      "at 2005 ms, user 1's list on redis-session-1 was answered 401; expected the session (or credentials)",
    );
    expect(html).toContain(
      "at 2105 ms, user 1's list on redis-session-1 was answered 401; expected the same as above.",
    );
  });

  it("keeps the first 20 anomalies of a cell in the JSON, and its notes", () => {
    const many = failedCell();
    many.anomalies = Array.from({ length: 25 }, (_, i) => ({ ...(many.anomalies ?? [])[0], time_ms: i }));
    const json = toJson(INFO, [many, cells[2]]) as { cells: Array<Record<string, unknown>> };
    expect(json.cells[0].anomalies).toHaveLength(20);
    expect(json.cells[0].first_anomaly).toEqual({
      time_ms: 2005,
      user: 1,
      operation: "session",
      instance: "redis-session-1",
      status: 401,
      expected: "the session (or credentials) the user logged in with to be accepted",
    });
    expect(json.cells[1].notes).toEqual([{ kind: "rerun", text: expect.stringMatching(/^agreed on a rerun/) }]);
  });
});
