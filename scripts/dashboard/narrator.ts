// The live view's sentences: one plain sentence for each event that matters, in the words of
// the docs, as "The Secret Lives of Data" narrates each step (docs/instructor-guide.md, "The
// 10-minute demo"). Each says what a user saw and why. An anomaly is explained by the fault that
// was in effect when it arose, read from the nemesis's records (what each fault struck, and
// which state classes it lost); only when no fault explains it is it the design's own trap (the
// save race, the stale cached copy).

import { Design, hasSessionView, SessionHome, sessionHome, StateClass } from "../designs";
import { Anomaly } from "../workbench/checker";
import { Operation } from "../workbench/history";
import { Fault } from "../workbench/nemesis";
import { Found } from "./live-check";

const WHERE: Record<SessionHome, string> = {
  none: "nowhere: credentials",
  memory: "memory",
  redis: "Redis",
  cached: "Redis + a copy per instance",
  token: "its token",
};

/**
 * How long after a freeze ends its old primary may still acknowledge writes: until a Sentinel's
 * periodic INFO (every 10 s) sees it and demotes it (docs/how-the-lab-works.md, "The scenarios").
 */
const DEMOTION_MS = 12_000;

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

/** The timeline's short label for a fault. */
export function faultLabel(fault: Fault): string {
  const name = fault.target.name;
  const labels: Record<Fault["kind"], string> = {
    restart: `restart ${name}`,
    crash: `kill ${name}`,
    "kill-busiest": `kill ${name}`,
    stop: `stop ${name}`,
    start: `start ${name}`,
    rolling: "rolling deploy",
    "store-restart": "Redis restart",
    "store-outage": "Redis stopped",
    "kill-primary": `kill ${name}`,
    "freeze-primary": `freeze ${name}`,
    "db-restart": "database restart",
    "db-outage": "database frozen",
    burst: `burst, ${name}`,
  };
  return labels[fault.kind];
}

/** "sessions, users and files" */
function listOf(classes: StateClass[]): string {
  return classes.length <= 1 ? (classes[0] ?? "") : `${classes.slice(0, -1).join(", ")} and ${classes.at(-1)}`;
}

/** What a fault took, said from its record: "every session in its memory is gone", or what it kept. */
function consequence(design: Design, fault: Fault): string {
  if (fault.loses.length === 0) {
    const where = sessionHome(design);
    if (fault.target.role === "instance")
      return where === "none"
        ? "no session was in it"
        : `the sessions live in ${where === "token" ? "the users' tokens" : "Redis"}, not in it`;
    return "nothing is lost";
  }
  if (fault.target.role === "instance" || fault.target.role === "instances")
    return `every session in ${fault.target.role === "instance" ? "its" : "their"} memory is gone`;
  return `its ${listOf(fault.loses)} are gone`;
}

/** The sentence said the moment a fault strikes, made from its record. */
export function strikeSentence(design: Design, fault: Fault): string {
  const name = fault.target.name;
  const replicated = fault.target.role === "redis-primary";
  switch (fault.kind) {
    case "crash":
    case "kill-busiest":
      return `${name} was killed (SIGKILL): it died at once, and ${consequence(design, fault)}. The balancer routes around it.`;
    case "stop":
      return `${name} was stopped (SIGTERM): it finished its requests, then exited, and ${consequence(design, fault)}. The balancer routes around it.`;
    case "start":
      return `${name} started again on port ${fault.target.port}${sessionHome(design) === "memory" ? ", with empty memory" : ""}; the balancer sends it requests again.`;
    case "restart":
      return `${name} is restarting (SIGTERM, then start), and ${consequence(design, fault)}.`;
    case "rolling":
      return "A rolling deploy: each instance in turn is stopped (SIGTERM), started again, and waited for (/ready).";
    case "store-restart":
      return fault.loses.length
        ? `Redis restarts (SIGTERM, then start) as a Redis without persistence does: it comes back empty, and ${consequence(design, fault)}.`
        : "Redis restarts (SIGTERM, then start) and reloads its append-only log: nothing is lost.";
    case "store-outage":
      return replicated
        ? `The Redis primary (${name}) was stopped (SIGTERM). The Sentinels promote a replica within about 2 s; until then requests get 503 store_unavailable.`
        : `Redis was stopped (SIGTERM) and stays down: each request gets 503 store_unavailable at once, never a hang. Its append-only log keeps its data until Start Redis.`;
    case "kill-primary":
      return `The Redis primary (${name}) was killed (SIGKILL); the Sentinels will promote a replica, which has every write it was sent.`;
    case "freeze-primary":
      return replicated
        ? `The Redis primary (${name}) is frozen (SIGSTOP) for ${(fault.held_ms ?? 0) / 1000} s: its connections stay open and nothing answers. After 1 s the Sentinels call it down and promote a replica; what it acknowledges before it is demoted will be lost.`
        : `Redis is frozen (SIGSTOP) for ${(fault.held_ms ?? 0) / 1000} s: its connections stay open and nothing answers. Each request waits for its Redis command timeout, then gets 503 store_unavailable.`;
    case "burst":
      return `${capitalized(name)} fires ten uploads at once, each on its own connection, then reads its session view.`;
    case "db-restart":
    case "db-outage":
      return `The database: ${fault.kind}.`;
  }
}

/** The sentence said when a fault has healed. */
export function healSentence(design: Design, fault: Fault): string {
  switch (fault.kind) {
    case "rolling":
      return `The rolling deploy is done: every instance was restarted once${fault.loses.includes("sessions") ? ", and every session made before it is gone" : ""}.`;
    case "kill-primary":
      return `${fault.promoted?.name ?? "A replica"} is the primary now; ${fault.target.name} comes back as its replica.`;
    case "freeze-primary":
      return fault.target.role === "redis-primary"
        ? `${fault.target.name} goes on (SIGCONT), still believing it is the primary until a Sentinel tells it otherwise; ${fault.promoted?.name ?? "a replica"} was promoted meanwhile.`
        : "Redis goes on (SIGCONT) and answers again.";
    case "store-restart":
      if (fault.loses.includes("sessions"))
        return "Redis answers again, empty: every session is gone, so every user logs in again; their accounts and files are in PostgreSQL, untouched.";
      if (fault.loses.length) return `Redis answers again, empty: the ${fault.loses.join(" and ")} are gone.`;
      return "Redis is back, and this design lost nothing: what it needs was in its log, or never in Redis.";
    default:
      return `${faultLabel(fault)}: done.`;
  }
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

/** A Sentinel's event, in the live view's words: promotion, demotion, and the vote before them. */
export function sentinelSentence(
  type: string,
  detail: string,
  nameOf: (port: string) => string,
): { text: string; tone: "fault" | "good" | "info" } | undefined {
  const ports = [...detail.matchAll(/(?:127\.0\.0\.1|localhost)[ :](\d+)/g)].map((match) => match[1]);
  switch (type) {
    case "+odown":
      return {
        text: `The Sentinels agree that ${nameOf(ports[0])} is down (objectively down: a quorum of 2 of 3 saw it stop answering).`,
        tone: "fault",
      };
    case "+switch-master":
      return {
        text: `The Sentinels promoted ${nameOf(ports[1])} in place of ${nameOf(ports[0])} (+switch-master): every instance writes to it now.`,
        tone: "good",
      };
    case "+convert-to-slave":
      return {
        text: `The old primary ${nameOf(ports[0])} was demoted to a replica (+convert-to-slave): what it acknowledged on its own since the promotion is thrown away as it copies the new primary.`,
        tone: "fault",
      };
    default:
      return undefined;
  }
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---------------------------------------------------------------------------------------------
// Anomalies, explained by the fault in effect when they arose.

/** Was the fault in effect at `time` (begun, not yet ended; a freeze's old primary until its demotion)? */
function inEffect(fault: Fault, time: number): boolean {
  const grace = fault.kind === "freeze-primary" && fault.target.role === "redis-primary" ? DEMOTION_MS : 0;
  return fault.began_ms <= time && (fault.ended_ms === null || time <= fault.ended_ms + grace);
}

/** The latest fault that lost `what` and could have taken it between `since` (the write, or the login) and `seen` (the anomaly). */
function faultThatLost(
  faults: Fault[],
  what: StateClass[],
  since: number,
  seen: number,
  where?: string,
): Fault | undefined {
  return [...faults]
    .reverse()
    .find(
      (fault) =>
        fault.loses.some((each) => what.includes(each)) &&
        fault.began_ms <= seen &&
        (fault.began_ms >= since || inEffect(fault, since)) &&
        (where === undefined || fault.target.role !== "instance" || fault.target.name === where),
    );
}

/** What a fault did, in a clause: "memory-session-2 was killed". */
function happened(fault: Fault): string {
  const name = fault.target.name;
  switch (fault.kind) {
    case "crash":
    case "kill-busiest":
      return `${name} was killed`;
    case "stop":
      return `${name} was stopped`;
    case "restart":
      return `${name} was restarted`;
    case "rolling":
      return "the rolling deploy restarted every instance";
    case "store-restart":
      return "Redis restarted empty";
    case "store-outage":
      return "Redis was stopped without its append-only log";
    case "freeze-primary":
      return `${name} was frozen, and ${fault.promoted?.name ?? "the replica"}, promoted in its place, never had it`;
    default:
      return faultLabel(fault);
  }
}

/** How a fault took a session or a write, in the words of its record. */
function how(fault: Fault, thing: string, storeNodePort?: string): string {
  const name = fault.target.name;
  switch (fault.kind) {
    case "freeze-primary": {
      const by = storeNodePort && Number(storeNodePort) === fault.target.port ? `acknowledged by ${name}` : "written";
      return `${thing} was ${by} after its freeze, while it still believed it was the primary; ${fault.promoted?.name ?? "the replica"}, promoted in its place, never had it`;
    }
    case "store-restart":
      return `${happened(fault)}, as a Redis without persistence does, after ${thing} was written`;
    case "store-outage":
      return `${happened(fault)}, and ${thing} went with it`;
    case "crash":
    case "kill-busiest":
      return `${happened(fault)} (SIGKILL), and ${thing} lived in its memory`;
    case "stop":
    case "restart":
      return `${happened(fault)} (SIGTERM), and ${thing} lived in its memory`;
    case "rolling":
      return `${happened(fault)}, and ${thing} lived in the memory of one of them`;
    default:
      return `${happened(fault)} took ${thing}`;
  }
}

/**
 * The upload an anomaly is about: its name, when it was acknowledged and which Redis node did it.
 * The anomaly carries the first two; the node comes from the upload's operation while the live
 * history still holds it (it keeps a bounded window).
 */
function uploadOf(
  anomaly: Anomaly,
  operations: Operation[],
): { filename: string; at: number; storePort?: string } | undefined {
  const filename = anomaly.upload?.filename ?? /upload (\S+)/.exec(anomaly.expected)?.[1];
  const op = operations.find(
    (each) =>
      each.name === "upload" && each.user === anomaly.user && each.filename === filename && each.outcome === "ok",
  );
  const at = anomaly.upload?.acknowledged_ms ?? op?.end;
  if (filename === undefined || at === undefined) return undefined;
  return { filename, at, storePort: op?.storeNode?.split(":").pop() };
}

/** One sentence for an anomaly the checker found: what the user saw, and why. */
export function explainAnomaly(
  design: Design,
  { rule, anomaly }: Found,
  operations: Operation[],
  faults: Fault[],
): string {
  const who = `User ${anomaly.user}`;
  const answer = `${anomaly.status ?? "no answer"}${anomaly.status === 401 ? ` ${codeOf(anomaly, operations) ?? ""}`.trimEnd() : ""}`;
  const seen = anomaly.time_ms;
  switch (rule) {
    case "sessions_broken": {
      const login = [...operations]
        .reverse()
        .find((op) => op.user === anomaly.user && op.name === "login" && op.outcome === "ok" && op.end <= seen);
      const home = login?.servedBy;
      const memory = sessionHome(design) === "memory";
      const fault = login && faultThatLost(faults, ["sessions"], login.end, seen, memory ? home : undefined);
      if (fault) {
        const where = memory && home ? `${home}'s memory` : WHERE[sessionHome(design)];
        return `${who}'s session lived in ${where}; ${happened(fault)}: ${answer}.`;
      }
      if (memory && home)
        return `${who}'s session lived in ${home}'s memory; ${anomaly.instance ?? "another instance"} answered, and it has never seen that session: ${answer}.`;
      return `${who}'s session was refused by ${anomaly.instance ?? "the cluster"}: ${answer}.`;
    }
    case "session_state_lost": {
      const upload = uploadOf(anomaly, operations);
      const name = upload?.filename ?? "an upload";
      const fault = faultThatLost(faults, ["sessions", "session fields"], upload?.at ?? seen, seen);
      const why = fault
        ? how(fault, "the session's update", upload?.storePort)
        : sessionHome(design) === "cached"
          ? `${anomaly.instance ?? "an instance"} answered from its own cached copy of the session, older than the upload`
          : "two requests saved the whole session at once, and the later save overwrote the earlier one";
      return `${who}'s session view (from ${anomaly.instance ?? "an instance"}) does not list ${name}, though its upload was acknowledged: ${why}.`;
    }
    case "writes_lost": {
      const upload = uploadOf(anomaly, operations);
      const name = upload?.filename ?? "an upload";
      const fault = faultThatLost(faults, ["files"], upload?.at ?? seen, seen);
      const why = fault ? how(fault, "the upload", upload?.storePort) : "the store no longer has it";
      return `${who}'s upload ${name} was acknowledged, and is missing from its file list: ${why}.`;
    }
    case "revived": {
      const fault = faultThatLost(faults, ["deny-list", "sessions"], 0, seen);
      const why = fault
        ? `${faultLabel(fault)} took the record of the logout`
        : sessionHome(design) === "cached"
          ? "an instance still had its own cached copy of the logged-out session"
          : "the logout did not hold";
      return `${who}'s logged-out ${sessionHome(design) === "token" ? "token" : "session"} was accepted again: ${why}.`;
    }
  }
}

/** The error code of the operation an anomaly names. */
function codeOf(anomaly: Anomaly, operations: Operation[]): string | undefined {
  return operations.find(
    (op) => op.user === anomaly.user && Math.round(op.end) === anomaly.time_ms && op.name === anomaly.operation,
  )?.code;
}
