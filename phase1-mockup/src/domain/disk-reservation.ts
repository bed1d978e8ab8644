// Phase 1's per-user reservation: what turns "count the user's files, then write one" into one
// step on a plain directory, so that the quota holds exactly under concurrent uploads, from one
// process or from several on one DATA_DIR (docs/api-reference.md, "POST /api/upload"). Two
// layers: a queue per user inside the process (uploads of one user take turns), and a claim file
// per attempt on disk, so that processes take turns too. A process killed while it holds a claim
// leaves it behind; the next one to look sees that its writer is gone and removes it.

import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { StoreUnavailableError } from "./errors";

/**
 * What a process leaves on disk while it works (a claim, a record in tmp/) older than this is
 * abandoned even if a process with its pid is alive (the pid may have been reused): a write
 * holds one for milliseconds, far below the 30 s a server gives a request to arrive.
 */
export const ABANDONED_AFTER_MS = 60_000;

/** How long an upload waits for its user's reservation, its turn in the queue included, before a 503. */
export const DEFAULT_RESERVATION_WAIT_MS = 5_000;

/** This machine's name as one file-name token: the pid in a name means something only on the host that wrote it. */
const HOST = os.hostname().replace(/[^A-Za-z0-9-]/g, "-") || "host";

/** `<host>.<pid>.<ms since 1970>.<random>`: who wrote a work file, and when, readable from its name alone. */
const WORK_NAME = /^([A-Za-z0-9-]+)\.(\d+)\.(\d+)\.[0-9a-f]+\./;

/**
 * The work files (claims, temp records) this process has on disk right now, shared by every
 * store of the process: another process's are judged by their pid, this one's by this list.
 */
const inFlight = new Set<string>();

/** A fresh name for a work file of this process, remembered as in flight until done(). */
export function workFileName(extension: string): string {
  const name = `${HOST}.${process.pid}.${Date.now()}.${randomBytes(8).toString("hex")}.${extension}`;
  inFlight.add(name);
  return name;
}

export function done(name: string): void {
  inFlight.delete(name);
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: no signal sent, only the check that the pid exists
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // alive, and another user's
  }
}

/**
 * True when the work file `name` was left by a process that is gone: its pid is dead on this
 * host, or it is this process's and not in flight (a previous process with the same pid), or it
 * is older than ABANDONED_AFTER_MS. A name in another form is judged by `modifiedMs` alone.
 */
export function isAbandoned(name: string, modifiedMs?: number, now = Date.now()): boolean {
  const match = WORK_NAME.exec(name);
  if (!match) return modifiedMs !== undefined && now - modifiedMs > ABANDONED_AFTER_MS;
  const [, host, pid, writtenAt] = match;
  if (now - Number(writtenAt) > ABANDONED_AFTER_MS) return true;
  if (host !== HOST) return false; // another machine's process: only its age tells
  if (Number(pid) === process.pid) return !inFlight.has(name);
  return !processIsAlive(Number(pid));
}

export function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

const CLAIM = /\.claim$/;

/** The reservation could not be had in time: a 503, like any store that does not answer. */
export class ReservationTimeout extends StoreUnavailableError {}

/**
 * The reservations of every user of one DATA_DIR, kept in `locksDir/<user id>/`. To reserve, a
 * process creates a claim file of its own there (flag "wx": a name nobody else has), then lists
 * the folder: it holds the reservation when its claim is the only one, and withdraws it when it
 * is not (to try again after a short random pause). Of two processes that claim at once, the one
 * that lists second sees the other's claim: at most one ever holds. A claim held for over a
 * minute counts as abandoned (a write takes milliseconds). One lock file made with flag "wx"
 * would be simpler, but a dead process's lock must then be removed by whoever finds it, and two
 * finders could each remove it, the second removing the fresh lock the first had made meanwhile.
 * Here a dead process's claim has a name nobody else uses: removing it removes nobody else's.
 */
export class Reservations {
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly locksDir: string,
    private readonly waitMs = DEFAULT_RESERVATION_WAIT_MS,
  ) {}

  /**
   * Runs `work` while this process alone, of all processes on the DATA_DIR, holds `owner`'s
   * reservation. `work` learns how many abandoned claims were removed to get it: a process
   * died in the middle of this user's write, and may have left half a file. Throws
   * StoreUnavailableError (a 503) when the reservation cannot be had within the wait bound.
   */
  async run<T>(owner: string, work: (abandonedClaims: number) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.waitMs;
    // The queue: each call waits for the one before it in this process, whatever its outcome.
    const before = this.queues.get(owner) ?? Promise.resolve();
    let finished!: () => void;
    const turn = new Promise<void>((resolve) => (finished = resolve));
    const mine = before.then(() => turn);
    this.queues.set(owner, mine);
    await before;
    try {
      const claim = await this.claim(owner, deadline);
      try {
        return await work(claim.abandonedClaims);
      } finally {
        await fs.unlink(claim.file).catch(() => undefined);
        done(path.basename(claim.file));
      }
    } finally {
      finished();
      if (this.queues.get(owner) === mine) this.queues.delete(owner);
    }
  }

  /** Claims until this claim is alone, removing abandoned claims on the way; gives up at `deadline`. */
  private async claim(owner: string, deadline: number): Promise<{ file: string; abandonedClaims: number }> {
    const dir = path.join(this.locksDir, owner);
    let abandonedClaims = 0;
    for (let attempt = 0; ; attempt += 1) {
      const name = workFileName("claim");
      const file = path.join(dir, name);
      let others: string[];
      try {
        await fs.mkdir(dir, { recursive: true });
        // Empty: the name says whose it is, and an empty file needs no room on a full disk.
        await fs.writeFile(file, "", { flag: "wx" });
        others = (await fs.readdir(dir)).filter((each) => each !== name && CLAIM.test(each));
      } catch (error) {
        await fs.unlink(file).catch(() => undefined);
        done(name);
        throw error;
      }
      if (others.length === 0) return { file, abandonedClaims };
      await fs.unlink(file).catch(() => undefined); // withdraw, and let the other go first
      done(name);
      let waiting = false;
      for (const other of others) {
        if (!isAbandoned(other)) {
          waiting = true;
          continue;
        }
        try {
          await fs.unlink(path.join(dir, other));
          abandonedClaims += 1;
        } catch (error) {
          if (errorCode(error) !== "ENOENT") waiting = true; // still there: wait as for a live one
        }
      }
      if (!waiting) continue; // only a dead process's claims were in the way: again, at once
      if (Date.now() >= deadline) {
        throw new ReservationTimeout(
          `data directory: another upload of this user held its reservation (${path.relative(path.dirname(this.locksDir), dir)}) for more than ${this.waitMs} ms`,
        );
      }
      // 1 to 2 ms at first, then longer, at most 50 ms; random, so that two claimants drift apart.
      const pause = Math.min(50, 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}
