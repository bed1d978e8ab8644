// The live view's checker and its history (scripts/dashboard/live-check.ts, live-feed.ts), on
// hand-made histories and on the lab's own users against an in-process server: an upload is
// judged by the user's latest listing, each anomaly is counted once, a file the user deleted is
// not a lost write, and a class-long history is re-checked only in a bounded window
// (docs/instructor-guide.md, "The 10-minute demo").

import http from "node:http";
import { AddressInfo } from "node:net";
import { HISTORY_WINDOW_MS, LiveCheck, MAX_WINDOW_OPERATIONS, withReadBacks } from "../dashboard/live-check";
import { LiveFeed } from "../dashboard/live-feed";
import { Operation } from "../workbench/history";
import { Workload } from "../workbench/workload";
import { statefulApp } from "../../test-support/phase1-apps";
import { removeTempDirs } from "../../test-support/temp-dir";

const op = (fields: Partial<Operation>): Operation => ({
  user: 0,
  name: "upload",
  start: 0,
  end: 1,
  outcome: "ok",
  attempts: [],
  epoch: 1,
  workload: true,
  ...fields,
});
const upload = (n: number, start: number, user = 0) =>
  op({ user, name: "upload", start, end: start + 1, fileId: `f${n}`, filename: `u-${n}.txt`, key: `u-${n}` });
const list = (start: number, filenames: string[], user = 0) =>
  op({ user, name: "list", start, end: start + 1, filenames });
const remove = (n: number, start: number, outcome: Operation["outcome"] = "ok") =>
  op({ name: "delete", start, end: start + 1, outcome, status: outcome === "ok" ? 200 : 401, fileId: `f${n}` });

describe("the live checker", () => {
  it("judges an upload by the user's latest listing that began after it, and not before there is one", () => {
    const history = [upload(1, 0), upload(2, 10), list(20, ["u-1.txt"]), upload(3, 30)];
    const judged = withReadBacks(history);
    expect(judged.filter((each) => each.name === "readback").map((each) => [each.fileId, each.outcome])).toEqual([
      ["f1", "ok"],
      ["f2", "refused"],
    ]);
    expect(judged.some((each) => each.fileId === "f3")).toBe(false); // not yet listed: not judged
  });

  it("counts each anomaly once, however many later listings still miss the upload", () => {
    const live = new LiveCheck();
    const history = [upload(1, 0), upload(2, 10), list(20, ["u-1.txt"])];
    expect(live.run(history).map((found) => found.rule)).toEqual(["writes_lost"]);
    history.push(list(40, ["u-1.txt"]), op({ name: "session", start: 50, end: 51, filesUploaded: ["f1"] }));
    expect(live.run(history).map((found) => found.rule)).toEqual(["session_state_lost"]); // f2, missing from the session view
    expect(live.counts).toEqual({ sessions_broken: 0, session_state_lost: 1, writes_lost: 1, revived: 0 });
    history.push(op({ name: "list", start: 60, end: 61, status: 401, outcome: "refused" }));
    expect(live.run(history).map((found) => found.rule)).toEqual(["sessions_broken"]);
    expect(live.perUser.get(0)).toMatchObject({
      sessions_broken: 1,
      session_state_lost: 1,
      writes_lost: 1,
      lastRule: "sessions_broken",
    });
  });

  it("does not count a file that its user deleted before the listing as a lost write, but does count one whose delete was refused", () => {
    const deleted = [upload(1, 0), upload(2, 10), remove(1, 20), list(30, ["u-2.txt"])];
    expect(new LiveCheck().run(deleted)).toEqual([]);
    const refused = [upload(1, 0), upload(2, 10), remove(1, 20, "refused"), list(30, ["u-2.txt"])];
    const lost = new LiveCheck().run(refused).filter((found) => found.rule === "writes_lost");
    expect(lost.map((found) => found.anomaly.expected)).toEqual([expect.stringContaining("u-1.txt")]);
    // Deleted after the listing began: that listing should still have shown it.
    const late = [upload(1, 0), list(30, []), remove(1, 35)];
    expect(new LiveCheck().run(late).map((found) => found.rule)).toEqual(["writes_lost"]);
  });
});

describe("the live view's history over a class", () => {
  /** A user's loop as the live view runs it, every `step` ms: upload, delete the oldest beyond 20, session view, listing. */
  function simulate(feed: LiveFeed, minutes: number, lostEvery: number): { longest: number; remembered: number } {
    const operations: Operation[] = [];
    const step = 100;
    let longest = 0;
    let remembered = 0;
    const uploaded: number[] = [];
    for (let loop = 0, t = 0; t < minutes * 60_000; loop += 1, t += 4 * step) {
      uploaded.push(loop);
      operations.push(upload(loop, t));
      if (uploaded.length > 20) operations.push(remove(uploaded.shift() as number, t + step));
      // The session lists every upload of the session, as the servers' session view does.
      operations.push(
        op({
          name: "session",
          start: t + 2 * step,
          end: t + 2 * step + 1,
          filesUploaded: Array.from({ length: loop + 1 }, (_, i) => `f${i}`),
        }),
      );
      // Every lostEvery-th upload is missing from the listing that follows it: a write lost.
      const listed = uploaded.filter((n) => n % lostEvery !== 0 || n === 0).map((n) => `u-${n}.txt`);
      operations.push(list(t + 3 * step, listed));
      feed.take(operations, t + 3 * step + 2, () => "");
      longest = Math.max(longest, operations.length);
      remembered = Math.max(remembered, feed.live.remembered);
    }
    return { longest, remembered };
  }

  it("re-checks at most the window however long the class runs, while the counts keep every anomaly found", () => {
    const short = new LiveFeed();
    const shortRun = simulate(short, 2, 50);
    const long = new LiveFeed();
    const longRun = simulate(long, 20, 50);
    // The history the rules re-check, and what the checker remembers, stop growing after the window.
    expect(longRun.longest).toBeLessThanOrEqual(MAX_WINDOW_OPERATIONS);
    expect(longRun.longest).toBeLessThanOrEqual((HISTORY_WINDOW_MS / 100) * 1.1);
    expect(longRun.longest).toBe(shortRun.longest);
    expect(longRun.remembered).toBeLessThanOrEqual(shortRun.remembered + 1);
    // 20 minutes at a loop per 400 ms: 3,000 uploads, every 50th lost, each counted once; no deleted file counted.
    expect(long.live.counts.writes_lost).toBe(Math.floor((20 * 60_000) / 400 / 50) - 1);
    expect(short.live.counts.writes_lost).toBe(Math.floor((2 * 60_000) / 400 / 50) - 1);
    expect(long.totals).toMatchObject({ ok: long.totals.ops, refused: 0, errors: 0 });
  });

  it("keeps of each session view only the uploads still in the window, so a long session costs what a short one did", () => {
    const feed = new LiveFeed();
    const operations = [upload(1, 0), upload(2, 10)];
    const view = op({ name: "session", start: 20, end: 21, filesUploaded: ["f-old-1", "f-old-2", "f1", "f2"] });
    operations.push(view);
    feed.take(operations, 25, () => "");
    expect(view.filesUploaded).toEqual(["f1", "f2"]);
    expect(feed.live.counts.session_state_lost).toBe(0);
  });

  it("adds up: every operation is ok, refused (401) or failed after retries", () => {
    const feed = new LiveFeed();
    const operations = [
      upload(1, 0),
      op({ name: "list", start: 5, end: 6, outcome: "refused", status: 401, code: "session_not_found" }),
      op({ name: "upload", start: 7, end: 8, outcome: "error", status: 503, code: "store_unavailable" }),
      op({ name: "upload", start: 9, end: 10, outcome: "error", status: 413, code: "quota_exceeded" }),
    ];
    feed.take(operations, 20, () => "");
    expect(feed.totals).toEqual({ ops: 4, ok: 1, refused: 1, errors: 2 });
    // The quota answer is explained, once a minute at most.
    operations.push(op({ name: "upload", start: 30, end: 31, outcome: "error", status: 413, code: "quota_exceeded" }));
    feed.take(operations, 40, () => "");
    expect(
      feed
        .since(0)
        .narration.map((each) => each.text)
        .filter((text) => text.includes("413")),
    ).toEqual([expect.stringMatching(/^User 0's upload was refused with 413 quota_exceeded: .* this one is full/)]);
  });

  it("explains a login refused by the per-account limit, once a minute at most", () => {
    const feed = new LiveFeed();
    const refused = (start: number) =>
      op({ name: "login", start, end: start + 1, outcome: "error", status: 429, code: "too_many_requests" });
    const operations = [refused(0), refused(10)];
    feed.take(operations, 20, () => "");
    const said = feed
      .since(0)
      .narration.map((each) => each.text)
      .filter((text) => text.includes("429"));
    expect(said).toEqual([
      expect.stringMatching(/^User 0's login was refused with 429 too_many_requests: .* 30 times a minute/),
    ]);
  });
});

describe("the live view's users", () => {
  let server: http.Server;
  let url: string;
  beforeAll(async () => {
    // A quota of 8 files: users that did not delete would reach it within a second.
    const { app } = statefulApp({ quota: { maxFiles: 8, maxBytes: 1 << 20 } });
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    removeTempDirs(); // the app's DATA_DIR
  });

  it("delete their oldest files beyond keepFiles, stay below the quota, and lose nothing by it", async () => {
    const started = Date.now();
    const workload = new Workload({
      design: "stateful",
      url,
      users: 2,
      seed: 1,
      concurrent: false,
      tag: "keep",
      clock: () => Date.now() - started,
      paceMs: 1,
      keepFiles: 3,
    });
    workload.start();
    await workload.waitForLoops(30, Date.now() + 15_000);
    await workload.stop();
    const operations = workload.operations;
    const uploads = operations.filter((each) => each.name === "upload" && each.outcome === "ok");
    expect(uploads.length).toBeGreaterThanOrEqual(60); // far past the quota of 8, had nothing been deleted
    expect(operations.filter((each) => each.status === 413)).toEqual([]);
    expect(operations.filter((each) => each.name === "delete" && each.outcome === "ok").length).toBeGreaterThanOrEqual(
      uploads.length - 2 * 4,
    );
    for (const listing of operations.filter((each) => each.name === "list" && each.outcome === "ok"))
      expect(listing.filenames?.length).toBeLessThanOrEqual(4);
    const live = new LiveCheck();
    expect(live.run([...operations].sort((a, b) => a.start - b.start))).toEqual([]);
  });
});
