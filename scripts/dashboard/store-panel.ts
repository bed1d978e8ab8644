// The live view's store panel: what is inside Redis while the class watches. For each Redis
// node, its role (ROLE), its key count (DBSIZE) and the last commands it ran, read with
// MONITOR as `redis-cli -p PORT monitor` would show them, the commands and their keys only,
// never a value (docs/instructor-guide.md, "The 10-minute demo"). MONITOR costs Redis some
// throughput: fine at a class's pace, never on a benchmark.

import net from "node:net";
import { ask } from "../processes/replicated-redis";

export interface StoreNode {
  name: string;
  port: number;
  /** Down: no process. Frozen: SIGSTOP, it answers nothing. */
  running: boolean;
  frozen: boolean;
}

export interface NodeView {
  name: string;
  port: number;
  role: "primary" | "replica" | "down" | "frozen" | "no answer";
  keys: number | null;
  commands: string[];
}

const KEPT_COMMANDS = 6;
// What Redis itself, the Sentinels and this panel send: not what the servers do for a user.
const HOUSEKEEPING = new Set([
  "ping",
  "info",
  "role",
  "dbsize",
  "publish",
  "replconf",
  "subscribe",
  "client",
  "hello",
  "monitor",
  "select",
  "psync",
  "sync",
  "command",
  "config",
  "auth",
]);

/** One MONITOR connection: the last few commands a node ran, reconnected by the panel while the node runs. */
class Monitor {
  readonly commands: string[] = [];
  private socket: net.Socket | undefined;
  private pending = "";

  constructor(readonly port: number) {}

  get open(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  connect(): void {
    if (this.open) return;
    const socket = net.connect(this.port, "127.0.0.1", () => socket.write("MONITOR\r\n"));
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.read(chunk));
    socket.on("error", () => socket.destroy());
    this.socket = socket;
  }

  private read(chunk: string): void {
    // One command per line: +1700000000.123456 [0 127.0.0.1:51234] "get" "lab:sess:abc"
    const lines = (this.pending + chunk).split("\r\n");
    this.pending = lines.pop() ?? "";
    if (this.pending.length > 65_536) this.pending = ""; // a huge value: drop it, never hold it
    for (const line of lines) {
      const match = /^\+[\d.]+ \[[^\]]*\] (.*)$/.exec(line);
      if (!match) continue;
      const words = [...match[1].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((word) => word[1]);
      if (words.length === 0 || HOUSEKEEPING.has(words[0].toLowerCase())) continue;
      this.commands.push(commandLine(words));
      if (this.commands.length > KEPT_COMMANDS) this.commands.shift();
    }
  }

  close(): void {
    this.socket?.destroy();
  }
}

/** Commands whose every argument is a key. */
const ALL_KEYS = new Set(["mget", "del", "unlink", "exists", "touch", "watch"]);
/** Commands whose keys follow the script and their count (EVAL script numkeys key…). */
const SCRIPTS = new Set(["eval", "evalsha", "eval_ro", "evalsha_ro"]);

/**
 * A command as the panel shows it: the name in capitals and the keys it names, never a value.
 * Values are the users' sessions and files: a projector is no place for them, and a student
 * learns what the server does to Redis from the commands and keys alone.
 */
export function commandLine(words: string[]): string {
  const [name, ...args] = words;
  const lower = name.toLowerCase();
  const keys = ALL_KEYS.has(lower)
    ? args
    : SCRIPTS.has(lower)
      ? args.slice(2, 2 + (Number(args[1]) || 0))
      : args.slice(0, 1);
  const shown = keys.slice(0, 3).map((key) => (key.length > 40 ? `${key.slice(0, 39)}…` : key));
  return [name.toUpperCase(), ...shown, ...(keys.length > 3 ? ["…"] : [])].join(" ");
}

export class StorePanel {
  private readonly monitors = new Map<number, Monitor>();

  /** Each node as it is now: its role, key count and last commands (a frozen node answers nothing). */
  async read(nodes: StoreNode[]): Promise<NodeView[]> {
    return Promise.all(
      nodes.map(async (node): Promise<NodeView> => {
        const monitor = this.monitorOf(node.port);
        const commands = [...monitor.commands];
        if (!node.running) {
          monitor.close();
          return { name: node.name, port: node.port, role: "down", keys: null, commands };
        }
        if (node.frozen) return { name: node.name, port: node.port, role: "frozen", keys: null, commands };
        monitor.connect();
        const [role, keys] = await Promise.all([
          ask(node.port, "ROLE").catch(() => null),
          ask(node.port, "DBSIZE").catch(() => null),
        ]);
        const named = Array.isArray(role) ? (role[0] === "master" ? "primary" : "replica") : "no answer";
        return {
          name: node.name,
          port: node.port,
          role: named,
          keys: typeof keys === "number" ? keys : null,
          commands,
        };
      }),
    );
  }

  /** Forgets what the nodes ran (reset). */
  clear(): void {
    for (const monitor of this.monitors.values()) monitor.commands.length = 0;
  }

  close(): void {
    for (const monitor of this.monitors.values()) monitor.close();
    this.monitors.clear();
  }

  private monitorOf(port: number): Monitor {
    let monitor = this.monitors.get(port);
    if (!monitor) {
      monitor = new Monitor(port);
      this.monitors.set(port, monitor);
    }
    return monitor;
  }
}
