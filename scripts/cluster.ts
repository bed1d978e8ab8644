// `npm run cluster -- --design D --instances N --lb round-robin|sticky`: Redis, N instances and
// the built-in balancer, left running so that an instructor can kill an instance by hand and
// a class can watch what happens. Ctrl-C stops everything. Step by step in
// docs/instructor-guide.md and docs/labs/02-load-balancer-and-sticky-sessions.md.

import { parseArgs } from "node:util";
import { refuseNativeWindows, startStack, Stack, stopOnSignals } from "./stack";
import { Design, DESIGNS } from "./scenarios";

const USAGE = `usage: npm run cluster -- --design D [--instances N] [--lb round-robin|sticky]
  designs: ${DESIGNS.join(", ")}`;

async function main(): Promise<void> {
  let design: Design;
  let instances: number;
  let lb: "round-robin" | "sticky";
  try {
    const { values } = parseArgs({ options: { design: { type: "string" }, instances: { type: "string" }, lb: { type: "string" } } });
    if (!DESIGNS.includes(values.design as Design)) throw new Error(`--design must be one of ${DESIGNS.join(", ")}`);
    design = values.design as Design;
    instances = Number(values.instances ?? 3);
    if (!Number.isInteger(instances) || instances < 1 || instances > 9) throw new Error("--instances must be an integer from 1 to 9");
    if (values.lb !== undefined && values.lb !== "round-robin" && values.lb !== "sticky") throw new Error("--lb must be round-robin or sticky");
    lb = (values.lb ?? "round-robin") as "round-robin" | "sticky";
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
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
  for (const line of tryLines(design, stack.balancerUrl ?? stack.instances[0].url)) console.log(`  ${line}`);
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

/** How to log in and read, as each design wants it; the cookie jar also keeps a sticky balancer's cookie. */
function tryLines(design: Design, url: string): string[] {
  const body = `-H 'Content-Type: application/json' -d '{"username":"alice","password":"password123"}'`;
  const served = `-w '   <- %header{x-served-by}\\n'`; // which instance answered
  switch (design) {
    case "stateless":
      return [`curl -s -c jar.txt -b jar.txt -u alice:password123 ${served} ${url}/api/files`];
    case "stateful":
      return [
        `curl -s -c jar.txt -b jar.txt -X POST ${url}/api/session/start ${body}`,
        `curl -s -c jar.txt -b jar.txt -H 'X-Session-ID: <session_id from the line above>' ${served} ${url}/api/session`,
      ];
    case "jwt":
      return [
        `curl -s -c jar.txt -b jar.txt -X POST ${url}/api/login ${body}`,
        `curl -s -c jar.txt -b jar.txt -H 'Authorization: Bearer <token from the line above>' ${served} ${url}/api/files`,
      ];
    default:
      return [`curl -s -c jar.txt -b jar.txt -X POST ${url}/api/login ${body}`, `curl -s -c jar.txt -b jar.txt ${served} ${url}/api/session`];
  }
}

main().catch((error) => {
  console.error(`cluster: ${(error as Error).message}`);
  process.exit(1);
});
