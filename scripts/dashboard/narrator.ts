// The live view's sentences: one plain sentence for each event that matters, in the words of
// the docs, as "The Secret Lives of Data" narrates each step (docs/instructor-guide.md, "The
// 10-minute demo"). Each says what a user saw and why: where the session lived, and what was
// done to that place.

import { Design, hasSessionView, SessionHome, sessionHome } from "../designs";
import { Anomaly } from "../workbench/checker";
import { Operation } from "../workbench/history";
import { Found } from "./live-check";

/** The last fault done to each instance (by its id), and to Redis ("redis"): the reason a session broke. */
export type Faults = Map<string, { what: string; at: number }>;

const WHERE: Record<SessionHome, string> = {
  none: "nowhere: credentials",
  memory: "memory",
  redis: "Redis",
  cached: "Redis + a copy per instance",
  token: "its token",
};

/** Where a user's session lives, as its row says it (for memory: the instance that made it). */
export function sessionPlace(design: Design, madeOn: string | undefined): string {
  const where = sessionHome(design);
  return where === "memory" ? (madeOn ?? "not logged in") : WHERE[where];
}

/** What the class should know first about a design. */
export function homeSentence(design: Design): string {
  switch (sessionHome(design)) {
    case "none":
      return "No session: every request carries the user's credentials, so any instance can answer.";
    case "memory":
      return "Each session lives in the memory of the instance that made it.";
    case "redis":
      return "Every session lives in Redis, so any instance can serve any user.";
    case "cached":
      return "Every session lives in Redis, and each instance keeps its own copy for a while.";
    case "token":
      return "The session is the signed token the user carries; logged-out tokens go on a deny-list in Redis.";
  }
}

/** An instance killed or stopped: what went with it. */
export function downSentence(design: Design, id: string, action: "kill" | "stop"): string {
  const how =
    action === "kill"
      ? "was killed (SIGKILL): it died at once"
      : "was stopped (SIGTERM): it finished its requests, then exited";
  const where = sessionHome(design);
  const lost =
    where === "memory"
      ? ", and every session in its memory is gone"
      : where === "none"
        ? "; no session was in it"
        : `; the sessions live in ${where === "token" ? "the users' tokens" : "Redis"}, not in it`;
  return `${id} ${how}${lost}. The balancer routes around it.`;
}

/** The burst's outcome: how many uploads were acknowledged, and how many the session view lost. */
export function burstSentence(design: Design, acknowledged: number, lost: number, view: Operation | undefined): string {
  if (!hasSessionView(design))
    return `${design} has no session view: ${acknowledged} of 10 uploads acknowledged, and there is no session to lose them from.`;
  if (view?.outcome !== "ok")
    return `${acknowledged} of 10 uploads acknowledged; the session view was not answered (${view?.status ?? "no answer"}).`;
  if (lost > 0)
    return `${acknowledged} of 10 uploads acknowledged, but the session view lists only ${acknowledged - lost}: each request loaded the whole session, added its upload and saved the whole session back, and the later saves overwrote ${lost}.`;
  return `${acknowledged} of 10 uploads acknowledged, and the session view lists all ${acknowledged}.`;
}

/** One sentence for an anomaly the checker found: what the user saw, and why. */
export function explainAnomaly(
  design: Design,
  { rule, anomaly }: Found,
  operations: Operation[],
  faults: Faults,
): string {
  const who = `User ${anomaly.user}`;
  const answer = `${anomaly.status ?? "no answer"}${anomaly.status === 401 ? ` ${codeOf(anomaly, operations) ?? ""}`.trimEnd() : ""}`;
  const redis = faults.get("redis");
  switch (rule) {
    case "sessions_broken": {
      const login = [...operations]
        .reverse()
        .find(
          (op) => op.user === anomaly.user && op.name === "login" && op.outcome === "ok" && op.end <= anomaly.time_ms,
        );
      const home = login?.servedBy;
      if (sessionHome(design) === "memory" && home) {
        const fault = faults.get(home);
        const why =
          fault && fault.at >= (login?.end ?? 0)
            ? `${home} ${fault.what}`
            : `${anomaly.instance ?? "another instance"} answered, and it has never seen that session`;
        return `${who}'s session lived in ${home}'s memory; ${why}: ${answer}.`;
      }
      if (redis && login && redis.at >= login.end)
        return `${who}'s session lived in Redis; Redis ${redis.what}: ${answer}.`;
      return `${who}'s session was refused by ${anomaly.instance ?? "the cluster"}: ${answer}.`;
    }
    case "session_state_lost": {
      const upload = /upload (\S+)/.exec(anomaly.expected)?.[1] ?? "an upload";
      const why =
        sessionHome(design) === "cached"
          ? `${anomaly.instance ?? "an instance"} answered from its own cached copy of the session, older than the upload`
          : "two requests saved the whole session at once, and the later save overwrote the earlier one";
      return `${who}'s session view (from ${anomaly.instance ?? "an instance"}) does not list ${upload}, though its upload was acknowledged: ${why}.`;
    }
    case "writes_lost": {
      const upload = /upload (\S+)/.exec(anomaly.expected)?.[1] ?? "an upload";
      const why = redis
        ? `Redis ${redis.what}${redis.what === "was frozen" ? ", and the replica promoted in its place never had it" : redis.what === "restarted empty" ? " (no append-only log)" : ""}`
        : "the store no longer has it";
      return `${who}'s upload ${upload} was acknowledged, and is missing from its file list: ${why}.`;
    }
    case "revived":
      return `${who}'s logged-out token was accepted again: the deny-list lived in Redis${redis ? `, which ${redis.what}` : ""}.`;
  }
}

/** The error code of the operation an anomaly names. */
function codeOf(anomaly: Anomaly, operations: Operation[]): string | undefined {
  return operations.find(
    (op) => op.user === anomaly.user && Math.round(op.end) === anomaly.time_ms && op.name === anomaly.operation,
  )?.code;
}
