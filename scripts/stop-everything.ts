// Stops every process the lab or the benchmark started and may still be running: instances,
// nginx and HAProxy, and Redis. For Ctrl-C, and for a run that failed halfway
// (docs/how-the-lab-works.md, "Processes and clean-up").

import { killAllInstances } from "./processes";
import { killAllRealBalancers } from "./real-balancers";
import { stopAllRedis } from "./redis-process";

export async function stopEverything(): Promise<void> {
  killAllInstances();
  killAllRealBalancers();
  await stopAllRedis();
}
