// A Redis Cluster, as the course's "infinite horizontal scaling" would need one: three primaries
// that split the 16384 hash slots between them, and a replica of each. Six real `redis-server
// --cluster-enabled yes` processes, each on its own loopback port and in its own folder (a
// node rewrites its nodes.conf), joined by `redis-cli --cluster create`, and stopped like every
// other process. `npm run cluster -- --store cluster` and the benchmark use it
// (docs/concepts.md, "How far one Redis goes, then the database, and a Cluster").

import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { sleep } from "./managed-process";
import { findRedisServer, REDIS_MISSING_MESSAGE, RedisGroup, RedisServer } from "./redis";
import { ask } from "./replicated-redis";

const SETTLE_TIMEOUT_MS = 20_000;

/** redis-cli, beside redis-server (both come in every Redis package). */
export function findRedisCli(): string {
  const server = findRedisServer();
  if (!server) throw new Error(REDIS_MISSING_MESSAGE);
  return server.includes("/") ? path.join(path.dirname(server), "redis-cli") : "redis-cli";
}

function run(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // A timeout kills it (SIGTERM): nothing of it outlives the call.
    execFile(file, args, { timeout: timeoutMs, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error)
        reject(
          new Error(
            `${path.basename(file)} ${args.slice(0, 2).join(" ")} failed: ${(stderr || stdout || error.message).trim().split("\n").slice(-3).join(" ")}`,
          ),
        );
      else resolve(stdout);
    });
  });
}

export interface ClusterOptions {
  /** The folder of the run or stack: each node gets a folder of its own in it. */
  dir: string;
  /** Primaries (each with one replica): 3, Redis Cluster's smallest. */
  primaries?: number;
}

/** Three primaries and three replicas, started together and stopped together. */
export class RedisCluster extends RedisGroup {
  readonly name = "redis-cluster";

  constructor(private readonly options: ClusterOptions) {
    super();
  }

  /** REDIS_CLUSTER_NODES for the servers: every node (ioredis needs one to find the rest). */
  get nodeList(): string {
    return this.nodes.map((node) => `127.0.0.1:${node.port}`).join(",");
  }

  async start(): Promise<void> {
    const count = (this.options.primaries ?? 3) * 2;
    for (let i = 1; i <= count; i += 1) {
      const dir = path.join(this.options.dir, `cluster-${i}`);
      mkdirSync(dir, { recursive: true });
      // The node also listens on its port + 10000 (the cluster bus): a taken bus port reads as a taken port, and another is tried.
      const args = [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        path.join(dir, "nodes.conf"),
        "--cluster-node-timeout",
        "2000",
        "--repl-diskless-sync-delay",
        "0",
      ];
      this.nodes.push(new RedisServer(dir, false, `cluster-${i}`, args));
    }
    const started = await Promise.allSettled(this.nodes.map((node) => node.start()));
    const failed = started.find((outcome) => outcome.status === "rejected");
    if (failed) throw failed.reason;
    const addresses = this.nodes.map((node) => `127.0.0.1:${node.port}`);
    await run(
      findRedisCli(),
      ["--cluster", "create", ...addresses, "--cluster-replicas", "1", "--cluster-yes"],
      30_000,
    );
    await this.settled();
  }

  /** Waits until every node says the cluster is ok, knows all six, and every primary has its replica. */
  private async settled(): Promise<void> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    let waitingFor = "every node to report cluster_state:ok";
    while (Date.now() < deadline) {
      const infos = await Promise.all(
        this.nodes.map((node) => ask(node.port, "CLUSTER", "INFO").then(String, () => "")),
      );
      if (
        infos.every(
          (info) =>
            /cluster_state:ok/.test(info) && new RegExp(`cluster_known_nodes:${this.nodes.length}\\b`).test(info),
        )
      ) {
        const primaries = await this.primaries();
        const roles = await Promise.all(
          primaries.map((node) => ask(node.port, "ROLE").catch(() => null) as Promise<unknown[] | null>),
        );
        if (
          primaries.length === this.nodes.length / 2 &&
          roles.every((role) => Array.isArray(role?.[2]) && role[2].length === 1)
        )
          return;
        waitingFor = "every primary to have its replica connected";
      }
      await sleep(100);
    }
    throw new Error(
      `the Redis Cluster did not settle within ${SETTLE_TIMEOUT_MS / 1000} s, waiting for ${waitingFor} (see the logs in ${this.options.dir})`,
    );
  }

  /** The nodes that hold slots now (from CLUSTER NODES, asked of any node that answers). */
  async primaries(): Promise<RedisServer[]> {
    for (const node of this.nodes.filter((candidate) => candidate.running)) {
      const answer = await ask(node.port, "CLUSTER", "NODES").catch(() => null);
      if (typeof answer !== "string") continue;
      const ports = answer
        .split("\n")
        .filter((line) => / master /.test(` ${line.split(" ")[2]?.replace(/,/g, " ")} `) && !line.includes("fail"))
        .map((line) => Number(/:(\d+)@/.exec(line)?.[1]));
      return this.nodes.filter((candidate) => ports.includes(candidate.port));
    }
    return [];
  }

  async end(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.end()));
  }
}

/** Starts a Redis Cluster in `dir`. */
export async function startRedisCluster(options: ClusterOptions): Promise<RedisCluster> {
  const cluster = new RedisCluster(options);
  try {
    await cluster.start();
  } catch (error) {
    await cluster.end();
    throw error;
  }
  return cluster;
}
