// What machine a run is on, and how much of it a run can have: the cores and CPU every report
// records; the headroom measured before the run (idle cores, the lab's event-loop delay, the
// share of a core a fixed task gets), which decides how many cells run at once; and the load
// each cell met, with a reference request's round trip, printed beside every disagreement so
// that a busy laptop stays visible (docs/how-the-lab-works.md, "A busy machine").

import { scryptSync } from "node:crypto";
import http from "node:http";
import os from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";

export interface MachineInfo {
  cores: number;
  platform: string;
  arch: string;
  cpu: string;
}

/** The machine, as every report records it. */
export function machine(): MachineInfo {
  return {
    cores: os.cpus().length,
    platform: process.platform,
    arch: process.arch,
    cpu: os.cpus()[0]?.model ?? "unknown",
  };
}

/**
 * How busy the machine was while a cell ran: the 1-minute load average at the cell's end, the
 * lab's own event-loop delay during it (its 99th percentile), the cores left idle meanwhile
 * (the lab's own cells count as busy), and how long a reference request took before its users
 * started (a GET /health round trip, the median of five, in ms).
 */
export interface MachineLoad {
  load_average: number;
  event_loop_delay_ms: number;
  idle_cores?: number;
  reference_ms?: number;
}

/** Idle time summed over every core, and when it was read. */
function idleClock(): { idle_ms: number; at: number } {
  return { idle_ms: os.cpus().reduce((sum, cpu) => sum + cpu.times.idle, 0), at: performance.now() };
}

/** Cores idle between `since` and now: 1.7 on a quiet 2-core machine, 0 beside two CPU hogs. */
function idleCoresSince(since: ReturnType<typeof idleClock>): number {
  const now = idleClock();
  return round2(Math.max(0, (now.idle_ms - since.idle_ms) / Math.max(1, now.at - since.at)));
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Measures the lab's event-loop delay and the idle cores from now until the first call of the function it returns (later calls answer the same). */
export function watchLoad(): () => MachineLoad {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const idle = idleClock();
  let measured: MachineLoad | undefined;
  return () => {
    if (!measured) {
      delay.disable();
      measured = {
        load_average: round2(os.loadavg()[0]),
        event_loop_delay_ms: Math.round(delay.percentile(99) / 1e5) / 10,
        idle_cores: idleCoresSince(idle),
      };
    }
    return measured;
  };
}

/** The machine's headroom before a run: what the lab can count on, and what its first line and reports say. */
export interface Headroom {
  load_average: number;
  /** Cores idle while the lab sat still for `window_ms`. */
  idle_cores: number;
  /** The lab's event-loop delay over that window (99th percentile). */
  event_loop_delay_ms: number;
  /** The share of one core a fixed CPU task got: its CPU time over its wall time (1 on a quiet machine). */
  cpu_share: number;
  /** That task's wall time, in ms (its CPU time is the calibration: what it takes on a core of its own). */
  reference_ms: number;
  window_ms: number;
}

/**
 * A fixed piece of computation, the kind every password check costs a server: four scrypt
 * hashes at N = 2^13, in native code on this thread (about 80 ms on a core of its own here).
 */
function referenceTask(): void {
  for (let n = 0; n < 4; n += 1) scryptSync("reference", "fixed salt", 32, { N: 2 ** 13 });
}

/** Sits still for `windowMs` (idle cores, event-loop delay), then times the reference task against its own CPU time. */
export async function measureHeadroom(windowMs = 500): Promise<Headroom> {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const idle = idleClock();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  delay.disable();
  const idleCores = idleCoresSince(idle);
  const cpu = process.cpuUsage();
  const started = performance.now();
  referenceTask();
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return {
    load_average: round2(os.loadavg()[0]),
    idle_cores: idleCores,
    event_loop_delay_ms: Math.round(delay.percentile(99) / 1e5) / 10,
    cpu_share: round2(Math.min(1, (used.user + used.system) / 1000 / Math.max(wall, 0.001))),
    reference_ms: Math.round(wall * 10) / 10,
    window_ms: windowMs,
  };
}

/** Cells at once per idle core: a cell keeps about two thirds of a core busy (quietJobs below). */
export const CELLS_PER_IDLE_CORE = 1.5;

/**
 * How many cells to run at once on a quiet machine with `cores` cores: three on 2 cores, at most
 * 6. A cell spends a third of its time waiting (on a frozen or stopped store, a restart, a
 * backoff): measured on 2 cores, two cells at a time left 0.5 of a core idle and took 156 to
 * 162 s for the whole matrix, three at a time kept the cores busy and took 112 s, with no more
 * disagreements and no more timing notes.
 */
export function quietJobs(cores: number): number {
  return Math.min(6, Math.round(cores * CELLS_PER_IDLE_CORE));
}

/**
 * How many cells to run at once: one and a half per idle core (rounded to the nearest), at
 * least one and at most `asked`. A cell at its busiest (a burst, a restart) wants about one core
 * for its server, its Redis and its users; a cell that must share one with two others runs past
 * its 1 s deadlines, and its verdict would then be the machine's, not the design's.
 */
export function jobsForHeadroom(asked: number, headroom: Pick<Headroom, "idle_cores">): number {
  return Math.max(1, Math.min(asked, Math.round(headroom.idle_cores * CELLS_PER_IDLE_CORE)));
}

/** The median round trip of `count` GET requests to `url`, one after the other, each on a new connection, in ms. */
export async function timeReferenceRequests(url: string, count = 5): Promise<number> {
  const times: number[] = [];
  for (let n = 0; n < count; n += 1) {
    const started = performance.now();
    await new Promise<void>((resolve) => {
      const request = http.get(url, { agent: false }, (response) => {
        response.resume();
        response.on("end", () => resolve());
        response.on("error", () => resolve());
      });
      request.setTimeout(2000, () => request.destroy());
      request.on("error", () => resolve());
    });
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length / 2)] * 10) / 10;
}
