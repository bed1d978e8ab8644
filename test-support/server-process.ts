// Starts the lab's servers (phase 1 and phase 2) as real processes (compiled JavaScript run by
// `node`, never through npm or a TypeScript loader: docs/how-the-lab-works.md, "Processes and
// clean-up"), so tests can send them real signals. Every process started here is remembered
// and stopped by stopAllServers() in an afterAll, pass or fail.

import { ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { serverArguments } from "../scripts/processes/server-instance";
import type { ListeningMessage } from "../phase1-mockup/src/http/serve";

const REPO_ROOT = path.resolve(__dirname, "..");
export const DIST = path.join(REPO_ROOT, "dist", "phase1-mockup", "src");
const START_TIMEOUT_MS = 10_000;

export type Phase1Design = "stateless" | "stateful";
export type { Design } from "../scripts/designs";
import type { Design } from "../scripts/designs";

export interface ServerProcess {
  design: Design;
  child: ChildProcess;
  pid: number;
  port: number;
  url: string;
  serverId: string;
  output: () => string;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  exited: Promise<number | string>;
}

const running = new Set<ChildProcess>();

export function compiled(file: string): string {
  const full = path.join(DIST, file);
  if (!existsSync(full)) throw new Error(`${full} is missing: run npm run build first (npm test does)`);
  return full;
}

export interface StartOptions {
  port?: number; // default 0: the server picks a free port and reports it over IPC
  env?: Record<string, string>;
}

export async function startServer(design: Design, options: StartOptions = {}): Promise<ServerProcess> {
  // A port we pick again after a restart may have been taken meanwhile by some outgoing
  // connection (ports above 32767 are ephemeral): try again a few times before giving up.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startOnce(design, options);
    } catch (error) {
      if (attempt >= 20 || !String(error).includes("already in use")) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export { serverArguments };

/** Runs `node args…`, remembered until it exits so that stopAllServers() can stop it, its output kept. */
function spawnNode(args: string[], env: NodeJS.ProcessEnv, ipc = false) {
  const child = spawn(process.execPath, args, {
    env,
    stdio: ["ignore", "pipe", "pipe", ...(ipc ? ["ipc" as const] : [])],
  });
  running.add(child);
  const output = { stdout: "", stderr: "", both: "" };
  const keep = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
    output[stream] += chunk;
    output.both += chunk;
  };
  child.stdout?.on("data", keep("stdout"));
  child.stderr?.on("data", keep("stderr"));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, output, exited };
}

function startOnce(design: Design, options: StartOptions): Promise<ServerProcess> {
  const env = {
    ...process.env,
    HOST: "127.0.0.1",
    PORT: String(options.port ?? 0),
    PASSWORD_HASH_COST: "4",
    LOG_LEVEL: "info",
    RATE_LIMIT_PER_MINUTE: "100000",
    SESSION_SECRET: "test-secret-of-at-least-thirty-two-characters",
    ...options.env,
  };
  const { child, output, exited: ended } = spawnNode(serverArguments(design), env, true);
  const exited = ended.then(({ code, signal }) => code ?? signal ?? "unknown");
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${design} server did not listen within ${START_TIMEOUT_MS} ms:\n${output.both}`));
    }, START_TIMEOUT_MS);
    child.on("message", (message: ListeningMessage) => {
      if (message?.type !== "listening") return;
      clearTimeout(timer);
      resolve({
        design,
        child,
        pid: message.pid,
        port: message.port,
        url: `http://127.0.0.1:${message.port}`,
        serverId: message.serverId,
        output: () => output.both,
        exited,
      });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${design} server exited (${code}) before listening:\n${output.both}`));
    });
  });
}

/** Sends `signal` to the server's own pid and waits until it has exited. */
export async function stopServer(server: ServerProcess, signal: NodeJS.Signals): Promise<number | string> {
  process.kill(server.pid, signal);
  return server.exited;
}

/** Stops every server this test file started that is still running. */
export async function stopAllServers(): Promise<void> {
  const children = [...running];
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) =>
          child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once("exit", resolve),
        ),
    ),
  );
}

/**
 * Starts a compiled program (the lab, a demo) with its output kept: `done` resolves when it
 * exits, with its code, signal and output; stopAllServers() stops it if a test fails first.
 */
export function startProgram(file: string, args: string[], env: NodeJS.ProcessEnv) {
  const { child, output, exited } = spawnNode([file, ...args], env);
  const done = exited.then(({ code, signal }) => ({ code, signal, stdout: output.stdout, stderr: output.stderr }));
  return { child, done, output: () => output.stdout };
}

/** Runs a compiled script to completion; resolves with its exit code and output. */
export async function runScript(
  file: string,
  args: string[] = [],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { child, output, exited } = spawnNode([file, ...args], { ...process.env, ...env });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  const { code } = await exited;
  clearTimeout(timer);
  if (timedOut)
    throw new Error(
      `${path.basename(file)} did not finish within ${timeoutMs} ms:\n${output.stdout}\n${output.stderr}`,
    );
  return { code, stdout: output.stdout, stderr: output.stderr };
}
