// `npm run cluster -- --design D --instances N --lb round-robin|sticky [--store single|sentinel|cluster]`:
// Redis (one; or a primary, two replicas and three Sentinels; or a Redis Cluster of three
// primaries, each with a replica), PostgreSQL for the users and files, N instances and the built-in
// balancer, left running so that an instructor can kill an instance, or the Redis primary, by
// hand and a class can watch what happens. Ctrl-C stops everything. Step by step in
// docs/instructor-guide.md and docs/labs/02-load-balancer-and-sticky-sessions.md.

import { stopEverything } from "../processes/managed-process";
import { parseOrExit, readArgs, readDesign, readInteger, readStrategy, refuseNativeWindows, UsageError } from "../cli";
import { curlLines, DESIGNS } from "../designs";
import { MASTER_NAME } from "../processes/replicated-redis";
import { designOrDefault } from "./narration";
import { startStack, Stack, stopOnSignals } from "../processes/stack";

const USAGE = `usage: npm run cluster -- [--design D] [--instances N] [--lb round-robin|sticky] [--store single|sentinel|cluster]
  designs: ${DESIGNS.join(", ")} (redis-session when not given)`;

async function main(): Promise<void> {
  const { given, instances, lb, store } = parseOrExit(USAGE, () => {
    const values = readArgs(process.argv.slice(2), ["design", "instances", "lb", "store"]);
    const store = values.store ?? "single";
    if (store !== "single" && store !== "sentinel" && store !== "cluster")
      throw new UsageError(`--store must be single, sentinel or cluster (got ${JSON.stringify(store)})`);
    return {
      given: readDesign(values.design, false),
      instances: readInteger("instances", values.instances, 3, 1, 9),
      lb: readStrategy(values.lb),
      store: store as "single" | "sentinel" | "cluster",
    };
  });
  refuseNativeWindows("cluster");
  const design = designOrDefault(given, "redis-session", "--design D for another");
  const running: { stack?: Stack } = {}; // filled once started, for the Ctrl-C handler
  let closing = false;
  process.on("SIGINT", () => (closing = true));
  process.on("SIGTERM", () => (closing = true));
  stopOnSignals(
    () => running.stack,
    (line) => console.log(line),
  );
  const stack = await startStack({
    design,
    instances,
    balancer: lb,
    balancerPort: 8080,
    store,
    useRedisUrl: true,
    graceful: true,
    classroom: true,
  });
  running.stack = stack;
  console.log(
    `cluster: ${instances} × ${design} behind the built-in ${lb} balancer${stack.redisUrl ? `, Redis at ${stack.redisUrl}` : stack.cluster ? ", on a Redis Cluster (3 primaries, each with a replica)" : ""}`,
  );
  console.log(`  balancer         ${stack.balancerUrl}`);
  console.log(`  balancer status  ${stack.balancerUrl}/__lb/status`);
  if (stack.redis)
    console.log(
      `  watch Redis      redis-cli -p ${stack.redis.port} monitor   (every command the instances send, live)`,
    );
  if (stack.postgres)
    console.log(
      `  PostgreSQL       ${stack.databaseUrl}  (pid ${stack.postgres.pid})  the users and files, shared by every instance`,
    );
  for (const instance of stack.instances)
    console.log(`  ${instance.serverId.padEnd(16)} ${instance.url}  (pid ${instance.pid})`);
  const replicated = stack.replicated;
  if (replicated) {
    const primary = await replicated.agreedPrimary();
    for (const node of replicated.nodes)
      console.log(
        `  ${node.name.padEnd(16)} redis://127.0.0.1:${node.port}  (pid ${node.pid})${node === primary ? "  the primary" : "  a replica"}`,
      );
    for (const sentinel of replicated.sentinels)
      console.log(
        `  ${sentinel.name.padEnd(16)} redis://127.0.0.1:${sentinel.port}  (pid ${sentinel.pid})  a Sentinel`,
      );
    // The last Sentinel answers the question: worksheet 07 kills the first one to show the quorum.
    const asked = replicated.sentinels[replicated.sentinels.length - 1];
    console.log(
      `  ask a Sentinel   redis-cli -p ${asked.port} sentinel get-master-addr-by-name ${MASTER_NAME}   (${asked.name}: who is the primary?)`,
    );
    console.log(
      `  watch it         redis-cli -p ${asked.port} psubscribe '*'   (each step of a failover, as it announces it)`,
    );
  }
  const cluster = stack.cluster;
  if (cluster) {
    const primaries = await cluster.primaries();
    for (const node of cluster.nodes)
      console.log(
        `  ${node.name.padEnd(16)} redis://127.0.0.1:${node.port}  (pid ${node.pid})${primaries.includes(node) ? "  a primary" : "  a replica"}`,
      );
    const first = cluster.nodes[0].port;
    console.log(
      `  Cluster nodes    redis-cli -p ${first} cluster nodes   (which primary owns which of the 16384 slots)`,
    );
    console.log(`  watch one node   redis-cli -p ${first} monitor   (the commands for its own slots only)`);
  }
  console.log("\nTry it:");
  console.log(
    `  curl -s -X POST ${stack.balancerUrl}/api/users -H 'Content-Type: application/json' -d '{"username":"alice","password":"password123"}'`,
  );
  for (const line of curlLines(design, stack.balancerUrl ?? stack.instances[0].url, "alice", "password123"))
    console.log(`  ${line}`);
  console.log("Kill an instance by hand, then ask the balancer again:");
  console.log(`  kill -9 ${stack.instances[0].pid}      # crash ${stack.instances[0].serverId}`);
  console.log(`  kill -TERM ${stack.instances[0].pid}   # or stop it gracefully`);
  if (replicated) {
    const primary = await replicated.agreedPrimary();
    console.log("Crash the Redis primary, or freeze it, and watch the Sentinels promote a replica:");
    console.log(`  kill -9 ${primary?.pid}      # SIGKILL the primary`);
    console.log(`  kill -STOP ${primary?.pid}   # freeze it; kill -CONT ${primary?.pid} to wake it`);
    const first = replicated.sentinels[0];
    console.log(`  kill ${first.pid}         # stop ${first.name} first: do two Sentinels of three still promote?`);
  }
  console.log("Ctrl-C stops everything.");
  for (const instance of stack.instances) {
    const watch = async () => {
      while (instance.running) await new Promise((resolve) => setTimeout(resolve, 200));
      if (!closing)
        console.log(
          `cluster: ${instance.serverId} (pid ${instance.pid}) has stopped; the balancer now routes around it`,
        );
    };
    void watch();
  }
}

main().catch((error) => {
  console.error(`cluster: ${(error as Error).message}`);
  void stopEverything().finally(() => process.exit(1)); // nothing it started may outlive it
});
