// A server instance: a design's server started as `node` on the compiled JavaScript (never
// through npm, npx or a TypeScript loader, so that a signal reaches the process that listens),
// stopped by its own pid, and started again on the same port. Its IPC channel is its lifeline:
// when the lab dies, the server sees `disconnect` and exits (docs/how-the-lab-works.md,
// "Processes and clean-up").

import { existsSync } from "node:fs";
import path from "node:path";
import { Design, isPhase1 } from "../designs";
import { Command, isReady, ManagedProcess } from "./managed-process";
import { REPO_ROOT } from "./run-dir";

const DIST = path.join(REPO_ROOT, "dist");

/** The node arguments that run a design's server. */
export function serverArguments(design: Design): string[] {
  const script = isPhase1(design)
    ? path.join(DIST, "phase1-mockup", "src", `${design}-server.js`)
    : path.join(DIST, "phase2-production", "src", "server.js");
  if (!existsSync(script)) throw new Error(`${script} is missing: run npm run build first`);
  return isPhase1(design) ? [script] : [script, "--design", design];
}

/** The node script of one of the harness's own programs, compiled (the bench's ceilings, the balancer process). */
export function compiledScript(...parts: string[]): string {
  return path.join(DIST, "scripts", ...parts);
}

export interface InstanceOptions {
  design: Design;
  /** Its SERVER_ID, and the name of its log and pid files. */
  serverId: string;
  env: Record<string, string>;
  /** Where its log and pid file go. */
  dir: string;
  /** The node arguments to run instead of the design's server (the benchmark's ceilings, the balancer). */
  args?: string[];
  /** Ended with SIGTERM (it drains) rather than SIGKILL: for the demos and the bench, which are not about crashes. */
  graceful?: boolean;
}

/** One server instance: a real process on a fixed port, that can be stopped and started again. */
export class ServerInstance extends ManagedProcess {
  private listening = false;

  constructor(readonly options: InstanceOptions) {
    super(options.serverId, options.dir);
    if (options.graceful) this.endSignal = "SIGTERM";
  }

  get serverId(): string {
    return this.name;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  protected command(port: number): Command {
    this.listening = false;
    return {
      file: process.execPath,
      args: this.options.args ?? serverArguments(this.options.design),
      env: { ...process.env, ...this.options.env, PORT: String(port), HOST: "127.0.0.1", SERVER_ID: this.serverId },
      ipc: true,
    };
  }

  protected override onMessage(message: unknown): void {
    if ((message as { type?: string } | null)?.type === "listening") this.listening = true;
  }

  /** Listening (it says so over IPC: not some other process on that port) and /ready answers 200. */
  protected ready(port: number): Promise<boolean> {
    return this.listening ? isReady(`http://127.0.0.1:${port}`) : Promise.resolve(false);
  }

  protected portTaken(output: string, port: number): boolean {
    return output.includes(`port ${port} is already in use`);
  }
}
