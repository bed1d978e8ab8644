// The built-in balancer as a process of its own, as nginx and HAProxy are, so that the
// benchmark's load generator does not share its event loop (docs/how-the-lab-works.md, "The
// benchmark harness"). `node dist/scripts/processes/balancer-process.js round-robin URL,URL,...` with
// PORT set, and MAX_FILE_BYTES and ALLOWED_HOSTS as the servers read them; it tells its parent
// its port over IPC and stops on SIGTERM or when the parent goes.

import { readAllowedHosts, readMaxFileBytes } from "../../phase1-mockup/src/config";
import { loadConfigOrExit } from "../../phase1-mockup/src/http/serve";
import { Balancer, BalancerOptions, Strategy } from "./builtin-balancer";

if (require.main === module) {
  const [strategy, list] = process.argv.slice(2);
  if ((strategy !== "round-robin" && strategy !== "sticky") || !list) {
    console.error("usage: node dist/scripts/processes/balancer-process.js round-robin|sticky URL[,URL...]");
    process.exit(2);
  }
  // A bad value stops the process with one line naming the variable, as the servers do.
  const options = loadConfigOrExit("builtin-balancer", (env): BalancerOptions => ({
    maxFileBytes: readMaxFileBytes(env),
    allowedHosts: readAllowedHosts(env),
  }));
  const backends = list.split(",").map((url, i) => ({ id: `backend-${i + 1}`, url }));
  const balancer = new Balancer(backends, strategy as Strategy, options);
  void balancer
    .listen(Number(process.env.PORT ?? 0))
    .then((port) => process.send?.({ type: "listening", port, pid: process.pid }));
  const stop = () => void balancer.stop().then(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  if (process.connected) process.once("disconnect", stop);
}
