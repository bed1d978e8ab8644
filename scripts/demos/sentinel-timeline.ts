// The Sentinels' own account of a failover, in ms since the fault: when each one called the
// primary subjectively down, when they agreed it was objectively down, which one won the vote,
// which replica it promoted, when the new primary was announced, and when the old primary was
// made a replica. Read from their announcements (watchSentinelEvents in
// processes/replicated-redis.ts); worksheet 07 adds up its phases (docs/labs/07-replication-is-not-durability.md).

import { SentinelEvent } from "../processes/replicated-redis";
import { formatMs } from "../workbench/history";

/** One step of the failover, as the first Sentinel to announce it saw it, and when the others did. */
export interface TimelineStep {
  /** ms since the fault */
  ms: number;
  type: string;
  sentinel: string;
  /** What the step means, in words. */
  says: string;
  /** The other Sentinels that announced the same step, and when (ms since the fault). */
  others: Array<{ sentinel: string; ms: number }>;
}

/** From the fault to the first +sdown, then to +elected-leader, then to the first +switch-master, in ms. */
export interface FailoverPhases {
  noticed: number;
  agreed: number;
  promoted: number;
  total: number;
}

/** "slave 127.0.0.1:6380 127.0.0.1 6380 @ lab 127.0.0.1 6379" names the instance 127.0.0.1:6380. */
function instanceOf(detail: string): string {
  const [kind, name, host, port] = detail.split(" ");
  return kind === "master" ? `${host}:${port}` : name;
}

/**
 * The steps worth a line, in a failover's order. Each keeps only the announcements about the
 * primary that failed (a Sentinel also announces every replica and Sentinel it loses or finds).
 */
const STEPS: Array<{ type: string; keep: (detail: string, old: string) => boolean; says: (detail: string) => string }> =
  [
    {
      type: "+sdown",
      keep: (detail, old) => detail.startsWith("master ") && instanceOf(detail) === old,
      says: (detail) => `subjectively down: ${instanceOf(detail)} left a PING unanswered for down-after-milliseconds`,
    },
    {
      type: "+odown",
      keep: (detail, old) => detail.startsWith("master ") && instanceOf(detail) === old,
      says: (detail) => {
        const [agree, quorum] = (/#quorum (\d+)\/(\d+)/.exec(detail) ?? []).slice(1);
        return `objectively down: ${agree ?? "enough"} Sentinels agree (quorum ${quorum ?? "met"})`;
      },
    },
    {
      type: "+try-failover",
      keep: (detail, old) => instanceOf(detail) === old,
      says: () => "starts a failover, asks the others for their votes",
    },
    {
      type: "+elected-leader",
      keep: (detail, old) => instanceOf(detail) === old,
      says: () => "won the vote (a majority): it alone runs the failover",
    },
    {
      type: "+selected-slave",
      keep: () => true,
      says: (detail) => `picks the replica ${instanceOf(detail)}`,
    },
    {
      type: "+promoted-slave",
      keep: () => true,
      says: (detail) => `${instanceOf(detail)} took REPLICAOF NO ONE: a primary now`,
    },
    {
      type: "+switch-master",
      keep: () => true,
      says: (detail) => {
        const [, oldHost, oldPort, host, port] = detail.split(" ");
        return `announces the new primary ${host}:${port} (was ${oldHost}:${oldPort})`;
      },
    },
    {
      type: "+failover-end",
      keep: (detail, old) => instanceOf(detail) === old,
      says: () => "the other replica follows it: the failover is over",
    },
    {
      type: "-role-change",
      keep: (detail, old) => instanceOf(detail) === old && detail.endsWith("new reported role is master"),
      says: (detail) => `the old primary ${instanceOf(detail)} is back, and still a primary`,
    },
    {
      type: "+convert-to-slave",
      keep: (detail, old) => instanceOf(detail) === old,
      says: (detail) => `makes the old primary ${instanceOf(detail)} a replica: it drops what only it had`,
    },
  ];

/**
 * The failover's steps announced after `since` (the fault's moment, ms on Date.now()'s clock),
 * about the primary `old` ("127.0.0.1:6379"), each once: the first Sentinel to announce it,
 * then the others that did, in the order the steps happened.
 */
export function sentinelTimeline(events: readonly SentinelEvent[], since: number, old: string): TimelineStep[] {
  const steps: TimelineStep[] = [];
  for (const step of STEPS) {
    const heard = events
      .filter((event) => event.type === step.type && event.at >= since && step.keep(event.detail, old))
      .sort((a, b) => a.at - b.at);
    if (heard.length === 0) continue;
    const [first, ...rest] = heard;
    const others = rest
      .filter(
        (event, i) => event.sentinel !== first.sentinel && rest.findIndex((e) => e.sentinel === event.sentinel) === i,
      )
      .map((event) => ({ sentinel: event.sentinel, ms: event.at - since }));
    steps.push({
      ms: first.at - since,
      type: step.type,
      sentinel: first.sentinel,
      says: step.says(first.detail),
      others,
    });
  }
  return steps.sort((a, b) => a.ms - b.ms);
}

/** How long each part of the failover took, or undefined when a step is missing. */
export function failoverPhases(steps: readonly TimelineStep[]): FailoverPhases | undefined {
  const at = (type: string) => steps.find((step) => step.type === type)?.ms;
  const [sdown, leader, switched] = [at("+sdown"), at("+elected-leader"), at("+switch-master")];
  if (sdown === undefined || leader === undefined || switched === undefined) return undefined;
  return { noticed: sdown, agreed: leader - sdown, promoted: switched - leader, total: switched };
}

/** The timeline as lines for the terminal: `+1,929 ms  +sdown  sentinel-3: …; also sentinel-2 +2,023, …`. */
export function timelineLines(steps: readonly TimelineStep[]): string[] {
  const width = Math.max(...steps.map((step) => step.type.length));
  return steps.map((step) => {
    const also = step.others.length
      ? ` (also ${step.others.map((other) => `${other.sentinel} +${Math.round(other.ms).toLocaleString("en-US")}`).join(", ")})`
      : "";
    return `${`+${formatMs(step.ms)}`.padStart(10)}  ${step.type.padEnd(width)}  ${step.sentinel}: ${step.says}${also}`;
  });
}

/** The phases, on two lines: what worksheet 07's Explain 2 adds up. */
export function phasesLines(phases: FailoverPhases, downAfterMs: number): string[] {
  return [
    `phases: ${formatMs(phases.noticed)} to the first +sdown (down-after-milliseconds ${formatMs(downAfterMs)}, from the first PING ` +
      "left unanswered; a Sentinel PINGs every second),",
    `then ${phases.agreed >= 0 ? `${formatMs(phases.agreed)} to +elected-leader (+odown and the vote)` : "the vote, already won before the first +sdown"}, then ${formatMs(phases.promoted)} to +switch-master ` +
      `(the promotion): ${formatMs(phases.total)} from the fault to the announcement`,
  ];
}
