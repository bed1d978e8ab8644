// What every program of the harness does the same way at its command line: read `--design`,
// a bounded integer or a balancer strategy, refuse native Windows in one line, and turn a
// usage mistake into its message, the usage and exit code 2 (as Maelstrom's do: 0 when the
// run agrees, 1 when it does not, 2 when it could not run as asked).

import { parseArgs } from "node:util";
import { Design, DESIGNS, isDesign } from "./designs";
import { stopEverything } from "./processes/managed-process";
import type { Strategy } from "./processes/builtin-balancer";

/**
 * The command line, read strictly: each of `strings` an option with a value, each of
 * `booleans` a flag; anything else is a usage mistake.
 */
export function readArgs<S extends string, B extends string>(
  argv: string[],
  strings: readonly S[],
  booleans: readonly B[] = [],
): Partial<Record<S, string> & Record<B, boolean>> {
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const name of strings) options[name] = { type: "string" };
  for (const name of booleans) options[name] = { type: "boolean" };
  return parseArgs({ args: argv, options }).values as Partial<Record<S, string> & Record<B, boolean>>;
}

/** A mistake on the command line: the program prints it with its usage and exits 2. */
export class UsageError extends Error {}

/** `--design`: one of the designs, or undefined when absent and not required. */
export function readDesign(value: string | undefined, required: true): Design;
export function readDesign(value: string | undefined, required: false): Design | undefined;
export function readDesign(value: string | undefined, required: boolean): Design | undefined {
  if (value === undefined && !required) return undefined;
  if (!isDesign(value))
    throw new UsageError(`--design must be one of ${DESIGNS.join(", ")} (got ${JSON.stringify(value ?? "")})`);
  return value;
}

/** `--name` as an integer, refused outside `min` to `max`. */
export function readInteger(
  name: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(text)})`);
  return Number(text);
}

/** `--lb round-robin|sticky` for the programs that start the built-in balancer. */
export function readStrategy(value: string | undefined): Strategy {
  if (value === undefined) return "round-robin";
  if (value !== "round-robin" && value !== "sticky")
    throw new UsageError(`--lb must be round-robin or sticky (got ${JSON.stringify(value)})`);
  return value;
}

/** The lab, the demos and the cluster send POSIX signals: on native Windows, say so in one line and stop. */
export function refuseNativeWindows(program: string): void {
  if (process.platform !== "win32") return;
  console.error(`${program} sends POSIX signals (SIGTERM, SIGKILL): run it on Linux, macOS, or Windows through WSL2.`);
  process.exit(1);
}

/**
 * Reads the options with `read`; a UsageError prints its message and the usage, and exits 2.
 * Any other error is the program's own and goes on up.
 */
export function parseOrExit<T>(usage: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof UsageError) && !(error instanceof TypeError)) throw error;
    // node:util parseArgs throws a TypeError for an unknown or malformed option.
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
}

/**
 * Runs a program's main and exits with its code; an error it did not expect is printed with
 * its stack, and every process it started is stopped first.
 */
export function runProgram(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error) => {
      console.error(`${name}: ${(error as Error).stack ?? String(error)}`);
      void stopEverything().finally(() => process.exit(1));
    },
  );
}
