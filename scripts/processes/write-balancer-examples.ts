// Writes the nginx and HAProxy configurations that the lab generates, with example ports, to
// phase2-production/balancers/, so that a student can read them without running the lab
// (docs/how-the-lab-works.md, "The balancers").
// Run: npm run build && node dist/scripts/processes/write-balancer-examples.js

import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { haproxyConfig, nginxConfig } from "./nginx-haproxy";
import { REPO_ROOT } from "./run-dir";

export const EXAMPLE_BACKENDS = [4001, 4002, 4003].map((port, i) => ({
  id: `instance-${i + 1}`,
  url: `http://127.0.0.1:${port}`,
}));
export const EXAMPLE_PORT = 8080;
export const EXAMPLE_DIR = "/tmp/lab-nginx";

if (require.main === module) {
  const dir = path.join(REPO_ROOT, "phase2-production", "balancers");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, "nginx-round-robin.conf"),
    nginxConfig(EXAMPLE_BACKENDS, "round-robin", EXAMPLE_PORT, EXAMPLE_DIR, false),
  );
  writeFileSync(
    path.join(dir, "nginx-sticky.conf"),
    nginxConfig(EXAMPLE_BACKENDS, "sticky", EXAMPLE_PORT, EXAMPLE_DIR, false),
  );
  writeFileSync(
    path.join(dir, "haproxy-round-robin.cfg"),
    haproxyConfig(EXAMPLE_BACKENDS, "round-robin", EXAMPLE_PORT),
  );
  writeFileSync(path.join(dir, "haproxy-sticky.cfg"), haproxyConfig(EXAMPLE_BACKENDS, "sticky", EXAMPLE_PORT));
  console.log(`wrote the example configurations to ${path.relative(process.cwd(), dir)}/`);
}
