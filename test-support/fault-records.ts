// Fault records as the nemesis returns them (scripts/workbench/nemesis.ts), for the tests that
// judge, report or narrate a history without starting a process: the fields a test cares about
// given, the rest as an ordinary fault has them.

import type { Fault, FaultTarget } from "../scripts/workbench/nemesis";

/** A fault of `kind` done to `target` from `began_ms` to `ended_ms` (null: still in effect), keeping and losing nothing unless told. */
export function faultRecord(
  kind: Fault["kind"],
  target: Pick<FaultTarget, "name" | "role"> & Partial<FaultTarget>,
  began_ms: number,
  ended_ms: number | null,
  fields: Partial<Omit<Fault, "kind" | "target" | "began_ms" | "ended_ms">> = {},
): Fault {
  return {
    kind,
    target: { port: null, pid: null, ...target },
    began_ms,
    ended_ms,
    keeps: [],
    loses: [],
    restarted: ended_ms !== null,
    ...fields,
  };
}

/** The freeze of a replicated primary on port 25509, with redis-2 (25510) promoted meanwhile. */
export function frozenPrimary(began_ms: number, ended_ms: number, fields: Partial<Fault> = {}): Fault {
  return faultRecord(
    "freeze-primary",
    { name: "redis-1", role: "redis-primary", port: 25509, pid: 4242 },
    began_ms,
    ended_ms,
    {
      loses: ["sessions", "users", "files"],
      promoted: { name: "redis-2", port: 25510 },
      held_ms: 5000,
      ...fields,
    },
  );
}
