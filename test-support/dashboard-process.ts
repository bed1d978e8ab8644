// The live view as its tests run it: the compiled `npm run dashboard` program as a real process
// on a free port (its cluster real processes too), the installed Chromium to look at it, and the
// clean-up that leaves nothing running. Plumbing, not a lesson: the tests are
// scripts/tests/dashboard.test.ts, dashboard-layout.test.ts and dashboard-endurance.test.ts.

import { ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { sleep } from "../scripts/processes/managed-process";
import { REPO_ROOT } from "../scripts/processes/run-dir";
import { killSurvivors } from "./pid-log";

/** The installed Chromium: CHROMIUM_PATH, or the usual names on Debian, Ubuntu and macOS. */
export function findChromium(): string | undefined {
  const candidates = [
    process.env.CHROMIUM_PATH,
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
  ];
  return candidates.find(
    (candidate): candidate is string => typeof candidate === "string" && candidate !== "" && existsSync(candidate),
  );
}

export interface Dashboard {
  child: ChildProcess;
  /** The dashboard's own pid (the shell's child when wrapped). */
  pid: number;
  url: string;
  token: string;
  pidLog: string;
  output: () => string;
  exited: Promise<number | null>;
}

const started: ChildProcess[] = [];

/**
 * Starts `npm run dashboard`'s program on a free port, its pids logged under `scratch`; resolves
 * once it prints the page's URL. `wrap`: through a shell that a test can kill, to lose the parent.
 */
export async function startDashboard(scratch: string, args: string[], name: string, wrap = false): Promise<Dashboard> {
  const pidLog = path.join(scratch, `${name}.pids`);
  const program = [path.join(REPO_ROOT, "dist", "scripts", "dashboard", "dashboard.js"), "--port", "0", ...args];
  const env = { ...process.env, LAB_PID_LOG: pidLog, REDIS_URL: "" };
  const child = wrap
    ? spawn(
        "bash",
        ["-c", `"${process.execPath}" ${program.map((arg) => `'${arg}'`).join(" ")} & echo "pid $!"; wait`],
        { env, stdio: ["ignore", "pipe", "pipe"] },
      )
    : spawn(process.execPath, program, { env, stdio: ["ignore", "pipe", "pipe"] });
  started.push(child);
  let stdout = "";
  child.stdout?.on("data", (chunk) => (stdout += chunk));
  child.stderr?.on("data", (chunk) => (stdout += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const deadline = Date.now() + 40_000;
  let url: RegExpExecArray | null = null;
  while (!(url = /Open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout)) && Date.now() < deadline && child.exitCode === null)
    await sleep(50);
  if (!url) throw new Error(`the dashboard did not print its URL:\n${stdout}`);
  const page = await (await fetch(url[1])).text();
  const token = /name="dashboard-token" content="([0-9a-f]+)"/.exec(page)?.[1] ?? "";
  const pid = wrap ? Number(/pid (\d+)/.exec(stdout)?.[1]) : (child.pid as number);
  return { child, url: url[1], token, pidLog, output: () => stdout, exited, pid };
}

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(50);
  }
  return check();
}

/** Stops a dashboard as Ctrl-C does; resolves with its exit code. */
export async function interrupt(dashboard: Dashboard): Promise<number | null> {
  dashboard.child.kill("SIGINT");
  return dashboard.exited;
}

/** A control, as the page sends it (the token, no Origin). */
export function act(dashboard: Dashboard, action: string, body: Record<string, unknown> = {}): Promise<number> {
  return fetch(`${dashboard.url}actions/${action}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Dashboard-Token": dashboard.token },
    body: JSON.stringify(body),
  }).then((response) => response.status);
}

/** After a file's tests: every dashboard still running stopped as Ctrl-C would, then anything its logs still name. */
export async function stopDashboards(scratch: string): Promise<void> {
  await Promise.all(
    started
      .splice(0)
      .filter((child) => child.exitCode === null && child.signalCode === null)
      .map((child) => new Promise((resolve) => child.once("exit", resolve).kill("SIGINT"))),
  );
  for (const log of readdirSync(scratch).filter((name) => name.endsWith(".pids")))
    killSurvivors(path.join(scratch, log));
}
