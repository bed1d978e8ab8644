// `npm run cluster -- --design D --instances N --lb round-robin|sticky`: Redis, N instances and
// the built-in balancer, left running so that an instructor can kill an instance by hand and
// a class can watch what happens. Ctrl-C stops everything. Step by step in
// docs/instructor-guide.md and docs/labs/02-load-balancer-and-sticky-sessions.md.

import { parseOrExit, readArgs, readDesign, readInteger, readStrategy, refuseNativeWindows } from "../cli";
import { curlLines, DESIGNS } from "../designs";
import { startStack, Stack, stopOnSignals } from "./stack";

const USAGE = `usage: npm run cluster -- --design D [--instances N] [--lb round-robin|sticky]
  designs: ${DESIGNS.join(", ")}`;

async function main(): Promise<void> {
  const { design, instances, lb } = parseOrExit(USAGE, () => {
    const values = readArgs(process.argv.slice(2), ["design", "instances", "lb"]);
    return { design: readDesign(values.design, true), instances: readInteger("instances", values.instances, 3, 1, 9), lb: readStrategy(values.lb) };
  });
  refuseNativeWindows("cluster");
  const running: { stack?: Stack } = {}; // filled once started, for the Ctrl-C handler
  let closing = false;
  process.on("SIGINT", () => (closing = true));
  process.on("SIGTERM", () => (closing = true));
  stopOnSignals(() => running.stack, (line) => console.log(line));
  const stack = await startStack({ design, instances, balancer: lb, balancerPort: 8080 });
  running.stack = stack;
  console.log(`cluster: ${instances} × ${design} behind the built-in ${lb} balancer${stack.redisUrl ? `, Redis at ${stack.redisUrl}` : ""}`);
  console.log(`  balancer         ${stack.balancerUrl}`);
  console.log(`  balancer status  ${stack.balancerUrl}/__lb/status`);
  for (const instance of stack.instances) console.log(`  ${instance.serverId.padEnd(16)} ${instance.url}  (pid ${instance.pid})`);
  console.log("\nTry it:");
  console.log(`  curl -s -X POST ${stack.balancerUrl}/api/users -H 'Content-Type: application/json' -d '{"username":"alice","password":"password123"}'`);
  for (const line of curlLines(design, stack.balancerUrl ?? stack.instances[0].url, "alice", "password123")) console.log(`  ${line}`);
  console.log("Kill an instance by hand, then ask the balancer again:");
  console.log(`  kill -9 ${stack.instances[0].pid}      # crash ${stack.instances[0].serverId}`);
  console.log(`  kill -TERM ${stack.instances[0].pid}   # or stop it gracefully`);
  console.log("Ctrl-C stops everything.");
  for (const instance of stack.instances) {
    const watch = async () => {
      while (instance.running) await new Promise((resolve) => setTimeout(resolve, 200));
      if (!closing) console.log(`cluster: ${instance.serverId} (pid ${instance.pid}) has stopped; the balancer now routes around it`);
    };
    void watch();
  }
}

main().catch((error) => {
  console.error(`cluster: ${(error as Error).message}`);
  process.exit(1);
});
