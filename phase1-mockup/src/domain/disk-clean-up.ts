// What a killed phase-1 server leaves in DATA_DIR, and its removal: content files that no record
// names, temp records in tmp/, claims in locks/ (docs/api-reference.md, "POST /api/upload").
// Every server runs cleanDataDir() before it serves; an upload that finds a dead process's claim
// on its user's reservation runs the two removals below for that user at once.

import { promises as fs } from "node:fs";
import path from "node:path";
import { isAbandoned, Reservations, ReservationTimeout } from "./disk-reservation";

/** `<file_id>.<random>.<size>.content`: a file's content, its size readable from its name. */
export const CONTENT_FILE = /^([0-9a-f]{32})\.[0-9a-f]{16}\.(\d+)\.content$/;

/** The content file the record `<file_id>.json` names, or undefined when there is none (or it cannot be read). */
async function namedContent(ownerDir: string, fileId: string): Promise<string | undefined> {
  try {
    const record = JSON.parse(await fs.readFile(path.join(ownerDir, `${fileId}.json`), "utf8"));
    return typeof record?.content_file === "string" ? record.content_file : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return "?"; // unreadable: keep its content, whatever it is, rather than guess
  }
}

/**
 * Removes the owner's content files that no record names. Safe only while no upload of the
 * owner is half done: call it under the owner's reservation.
 */
export async function removeOrphans(ownerDir: string): Promise<number> {
  let removed = 0;
  for (const name of await fs.readdir(ownerDir).catch(() => [] as string[])) {
    const match = CONTENT_FILE.exec(name);
    if (!match) continue;
    const named = await namedContent(ownerDir, match[1]);
    if (named === name || named === "?") continue;
    if (await fs.unlink(path.join(ownerDir, name)).then(yes, no)) removed += 1;
  }
  return removed;
}

/** Removes the temp records of processes that are gone; a live process's stay, even this one's. */
export async function removeAbandonedTempFiles(tmpDir: string): Promise<number> {
  let removed = 0;
  for (const name of await fs.readdir(tmpDir).catch(() => [] as string[])) {
    const file = path.join(tmpDir, name);
    const modifiedMs = await fs.stat(file).then((stat) => stat.mtimeMs, none);
    if (modifiedMs === undefined || !isAbandoned(name, modifiedMs)) continue;
    if (await fs.unlink(file).then(yes, no)) removed += 1;
  }
  return removed;
}

const yes = () => true;
const no = () => false;
const none = () => undefined;

/** What cleanDataDir() removed, and the users it left for later. */
export interface CleanReport {
  contentFiles: number;
  tempFiles: number;
  claims: number;
  usersSkipped: number;
}

/**
 * Removes what stopped processes left: temp records and claims whose process is gone (see
 * isAbandoned: its pid is dead, or it is over a minute old), and content files that no record
 * names. A user's folder is cleaned under that user's reservation, not by the age of its files:
 * another server on this DATA_DIR may be writing a content file of that user this very moment,
 * and it writes only under the reservation, so while we hold it no upload of that user is half
 * done, and a content file no record names is debris whatever its age. A user whose folder
 * cannot be cleaned (another server holds the reservation for seconds, a folder that cannot be
 * read) is left for the next start rather than keep this server from starting.
 */
export async function cleanDataDir(
  dirs: { filesDir: string; tmpDir: string; locksDir: string },
  reservations: Reservations,
): Promise<CleanReport> {
  const report: CleanReport = { contentFiles: 0, tempFiles: 0, claims: 0, usersSkipped: 0 };
  report.tempFiles = await removeAbandonedTempFiles(dirs.tmpDir);
  const users = async (dir: string) => fs.readdir(dir).catch(() => [] as string[]);
  for (const owner of new Set([...(await users(dirs.filesDir)), ...(await users(dirs.locksDir))])) {
    try {
      await reservations.run(owner, async (abandonedClaims) => {
        report.claims += abandonedClaims;
        report.contentFiles += await removeOrphans(path.join(dirs.filesDir, owner));
      });
    } catch (error) {
      if (!(error instanceof ReservationTimeout) && !(error as NodeJS.ErrnoException).code) throw error;
      report.usersSkipped += 1;
    }
  }
  return report;
}
