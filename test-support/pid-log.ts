// The processes a program under test started, as it logged them to LAB_PID_LOG ("pid port
// name" per line, written at each spawn by scripts/processes/managed-process.ts): for the
// no-orphans tests of the demos and the dashboard. Plumbing, not a lesson.

import { existsSync, readFileSync } from "node:fs";
import { isAlive } from "../scripts/processes/managed-process";

/** Every process the log names, in the order they were started. */
export function loggedProcesses(pidLog: string): Array<{ pid: number; port: number; name: string }> {
  if (!existsSync(pidLog)) return [];
  return readFileSync(pidLog, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [pid, port, name] = line.split(" ");
      return { pid: Number(pid), port: Number(port), name };
    });
}

/**
 * The logged processes still alive: each is killed on the way (SIGKILL), so that a failing
 * test never leaves one behind. An empty list is what a test expects.
 */
export function killSurvivors(pidLog: string): number[] {
  return loggedProcesses(pidLog)
    .map((logged) => logged.pid)
    .filter((pid) => {
      if (!isAlive(pid)) return false;
      try {
        process.kill(pid, "SIGKILL");
        return true;
      } catch {
        return false; // it ended in between
      }
    });
}
