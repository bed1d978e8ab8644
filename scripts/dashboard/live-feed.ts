// What the live view's page is sent, apart from the processes' states: each request lit in the
// lane of the instance that served it, each user's row, the checker's running figures, the
// sentences and the timeline's marks, each numbered so that a page (or a page that reconnects)
// gets each one once (docs/instructor-guide.md, "The 10-minute demo"). It keeps only a recent
// window of the history (live-check.ts), so that a class-long run costs what its first minutes did.

import { Design } from "../designs";
import { Operation } from "../workbench/history";
import { Workload } from "../workbench/workload";
import { Found, LiveCheck, outsideWindow, Rule } from "./live-check";
import { sessionPlace } from "./narrator";

/** One request, lit in its instance's lane (the lane "none" when no instance answered). */
export interface Lit {
  seq: number;
  at: number;
  lane: string;
  user: number;
  operation: string;
  status: number | null;
  ok: boolean;
}

export interface Narrated {
  seq: number;
  at: number;
  text: string;
  tone: "fault" | "bad" | "good" | "info";
}

/** A fault or an action, marked on the timeline. */
export interface Mark {
  seq: number;
  at: number;
  label: string;
}

export interface UserRow {
  user: number;
  name: string;
  state:
    | "working"
    | "broken"
    | "state-lost"
    | "write-lost"
    | "revived"
    | "waiting"
    | "quota"
    | "gone"
    | "paused"
    | "starting";
  session: string;
  last: string;
  counts: Record<Rule, number>;
}

/** The page's timeline shows the last minute. */
const WINDOW_MS = 60_000;
/** How long a user's row shows what went wrong before it reads "working" again. */
const HOLD_MS = 5000;
/** A quota answer, or the login limit's, is explained once a minute at most: one full account is one event. */
const QUOTA_SENTENCE_EVERY_MS = 60_000;
const STATE_OF: Record<Rule, UserRow["state"]> = {
  sessions_broken: "broken",
  session_state_lost: "state-lost",
  writes_lost: "write-lost",
  revived: "revived",
};

/** Each user's latest workload operation and latest logins, kept when the window has let them go. */
interface Latest {
  last?: Operation;
  /** The two latest successful logins: the narrator looks for the one before a refusal. */
  logins: Operation[];
}

export class LiveFeed {
  live = new LiveCheck();
  /** Every workload operation so far, by outcome: ok + refused (401) + errors (failed after retries) = ops. */
  totals = { ops: 0, ok: 0, refused: 0, errors: 0 };
  private lit: Lit[] = [];
  private narration: Narrated[] = [];
  private marks: Mark[] = [];
  private latest = new Map<number, Latest>();
  private quotaSaidAt = -Infinity;
  private limitSaidAt = -Infinity;
  private seq = 0;
  private cursor = 0;

  say(at: number, text: string, tone: Narrated["tone"]): void {
    this.narration.push({ seq: ++this.seq, at, text, tone });
    if (this.narration.length > 200) this.narration.splice(0, 100);
  }

  mark(at: number, label: string): void {
    this.marks.push({ seq: ++this.seq, at, label });
  }

  /** New users: the history starts again from its first operation. */
  followNewUsers(): void {
    this.cursor = 0;
    this.latest.clear();
  }

  /**
   * Reset, or a switch of design or balancer: the lanes, the marks, the sentences and every
   * figure back to nothing, so that nothing of the cluster before is shown as this one's.
   */
  forget(): void {
    this.live = new LiveCheck();
    this.totals = { ops: 0, ok: 0, refused: 0, errors: 0 };
    this.lit = [];
    this.marks = [];
    this.narration = [];
    this.latest.clear();
    this.quotaSaidAt = -Infinity;
    this.limitSaidAt = -Infinity;
  }

  /**
   * Takes in the operations finished since the last call: the lanes, the totals, and the
   * rules' new anomalies, each group of them handed to `explain` for one sentence. Then the
   * workload's history is cut to the window the rules re-check.
   */
  take(operations: Operation[], now: number, explain: (found: Found, sorted: Operation[]) => string): void {
    const arrived = operations.length > this.cursor;
    for (const op of operations.slice(this.cursor)) this.takeOne(op, operations, now);
    operations.splice(0, outsideWindow(operations, now)); // the workload's own array: it goes on pushing to it
    this.cursor = operations.length;
    const cutoff = now - WINDOW_MS;
    while (this.lit.length && this.lit[0].at < cutoff) this.lit.shift();
    while (this.marks.length && this.marks[0].at < cutoff) this.marks.shift();
    if (!arrived) return; // nothing new: the rules would find what they found last time
    const sorted = [...operations].sort((a, b) => a.start - b.start);
    // The narrator looks for the login before a refusal: keep each user's latest two, however old.
    const pinned = new Set(operations);
    const logins = [...this.latest.values()].flatMap((latest) => latest.logins).filter((op) => !pinned.has(op));
    const explained = logins.length ? [...logins, ...sorted].sort((a, b) => a.start - b.start) : sorted;
    // One sentence per user and rule at a time: a burst that lost six uploads is one event, not six.
    const groups = new Map<string, Found[]>();
    for (const found of this.live.run(sorted)) {
      const key = `${found.rule}|${found.anomaly.user}`;
      groups.set(key, [...(groups.get(key) ?? []), found]);
    }
    for (const group of groups.values()) {
      const more = group.length > 1 ? ` (and ${group.length - 1} more like it)` : "";
      this.say(now, explain(group[0], explained).replace(/\.$/, `${more}.`), "bad");
    }
  }

  /** One new operation: its attempts lit, the totals, each user's latest, a session view cut to the window. */
  private takeOne(op: Operation, operations: Operation[], now: number): void {
    if (op.workload) {
      this.totals.ops += 1;
      if (op.outcome === "ok") this.totals.ok += 1;
      if (op.outcome === "refused") this.totals.refused += 1;
      if (op.outcome === "error") this.totals.errors += 1;
      const latest = this.latest.get(op.user) ?? { logins: [] };
      latest.last = op;
      if (op.name === "login" && op.outcome === "ok") latest.logins = [...latest.logins, op].slice(-2);
      this.latest.set(op.user, latest);
    }
    if (op.status === 413 && op.code === "quota_exceeded" && now - this.quotaSaidAt >= QUOTA_SENTENCE_EVERY_MS) {
      this.quotaSaidAt = now;
      this.say(
        now,
        `User ${op.user}'s upload was refused with 413 quota_exceeded: an account may hold only so many files (MAX_FILES_PER_USER, 1,000 unless set) and bytes, and this one is full, so every upload is refused until files are deleted.`,
        "bad",
      );
    }
    if (op.status === 429 && op.name === "login" && now - this.limitSaidAt >= QUOTA_SENTENCE_EVERY_MS) {
      this.limitSaidAt = now;
      this.say(
        now,
        `User ${op.user}'s login was refused with 429 too_many_requests: an account may log in 30 times a minute (RATE_LIMIT_PER_ACCOUNT_PER_MINUTE), and this user logged in again each time an instance had never seen its session, so its logins wait for the minute to end.`,
        "bad",
      );
    }
    // A session view lists every upload of its session (hours of them in a class): the rules
    // compare it only with the uploads still in the window, so keep only those.
    if (op.name === "session" && op.filesUploaded) {
      const recent = new Set(
        operations
          .filter((each) => each.user === op.user && each.name === "upload" && each.fileId)
          .map((each) => each.fileId),
      );
      op.filesUploaded = op.filesUploaded.filter((id) => recent.has(id));
    }
    for (const attempt of op.attempts) {
      const ok = attempt.status !== undefined && attempt.status >= 200 && attempt.status < 300;
      this.lit.push({
        seq: ++this.seq,
        at: attempt.end,
        lane: attempt.servedBy ?? "none",
        user: op.user,
        operation: op.name,
        status: attempt.status ?? null,
        ok: ok || (op.name === "register" && attempt.status === 409),
      });
    }
  }

  /** The lit requests, sentences and marks numbered after `seq` (the last minute of them for a new page), and the number to ask from next. */
  since(seq: number): { lit: Lit[]; narration: Narrated[]; marks: Mark[]; seq: number } {
    return {
      lit: this.lit.filter((entry) => entry.seq > seq),
      narration: this.narration.filter((entry) => entry.seq > seq).slice(-30),
      marks: this.marks.filter((entry) => entry.seq > seq),
      seq: this.seq,
    };
  }

  /** One row per user: what went wrong lately (held for 5 s), or how it is doing now. */
  rows(workload: Workload | undefined, design: Design, paused: boolean, now: number): UserRow[] {
    if (!workload) return [];
    return workload.users.map((user) => {
      const { last, logins } = this.latest.get(user.index) ?? { logins: [] };
      const login = logins[logins.length - 1];
      const recorded = this.live.perUser.get(user.index);
      const counts = {
        sessions_broken: recorded?.sessions_broken ?? 0,
        session_state_lost: recorded?.session_state_lost ?? 0,
        writes_lost: recorded?.writes_lost ?? 0,
        revived: recorded?.revived ?? 0,
      };
      const recent = recorded?.lastRule && now - recorded.lastAt < HOLD_MS ? recorded.lastRule : undefined;
      let state: UserRow["state"] = "working";
      if (recent) state = STATE_OF[recent];
      else if (!last) state = "starting";
      else if (user.stopped) state = "gone";
      else if (last.status === 413 && last.code === "quota_exceeded") state = "quota";
      else if (last.outcome === "error") state = "waiting";
      else if (paused) state = "paused";
      const lastText = last ? `${last.name} ${last.status ?? "no answer"}${last.code ? ` ${last.code}` : ""}` : "";
      return {
        user: user.index,
        name: user.name,
        state,
        session: sessionPlace(design, login?.servedBy),
        last: lastText,
        counts,
      };
    });
  }
}
