/**
 * @jest-environment ./test-support/machine-lock-environment.js
 * @machine-lock exclusive
 */
// A short benchmark (one design, 1 s, one round) as a smoke test of `npm run bench`: the report
// has every part that docs/how-the-lab-works.md ("The benchmark harness") describes, and the
// ceilings and the design were measured with zero errors. No test asserts a speed: speed is
// what the benchmark reports, not what it tests.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT, reportsDir } from "../processes/run-dir";

describe("npm run bench, short", () => {
  it("writes reports/bench.json and bench.md with ceilings, designs, balancer, store and replication, without errors", () => {
    const run = spawnSync(process.execPath, [path.join(REPO_ROOT, "dist", "scripts", "bench", "bench.js"), "--quick", "--duration", "1", "--design", "stateful", "--no-memory"], {
      encoding: "utf8",
      timeout: 240_000,
    });
    expect(run.stderr).not.toContain("Error");
    expect(run.status).toBe(0);
    const report = JSON.parse(readFileSync(path.join(reportsDir(), "bench.json"), "utf8"));
    expect(Object.keys(report)).toEqual(expect.arrayContaining(["date", "machine", "node", "redis", "options", "ceilings", "designs", "memory", "balancer", "store", "replication", "goals", "profiles"]));
    expect(report.goals.length).toBeGreaterThanOrEqual(8);
    expect(report.ceilings.map((c: { name: string }) => c.name)).toEqual(["node:http", "express", "express+data_dir", "express+redis"]);
    for (const ceiling of report.ceilings) {
      expect(ceiling.req_s).toBeGreaterThan(0);
      expect(ceiling.errors).toBe(0);
    }
    expect(report.designs.map((d: { design: string; kind: string }) => `${d.design} ${d.kind}`)).toEqual(["stateful read", "stateful write"]);
    for (const design of report.designs) {
      expect(design).toMatchObject({ errors: 0, non2xx: 0, ceiling: "express+data_dir" });
      expect(design.ratio_to_ceiling).toBeGreaterThan(0);
      expect(design.ratio_to_express).toBeGreaterThan(0);
    }
    expect(report.balancer.map((b: { name: string }) => b.name)).toEqual(expect.arrayContaining(["direct", "builtin"]));
    for (const balancer of report.balancer) expect(balancer.errors).toBe(0);
    expect(report.store.get_req_s).toBeGreaterThan(0);
    expect(report.replication).toMatchObject({ design: "redis-session", kind: "write", errors: 0 });
    expect(report.replication.with_wait.req_s).toBeGreaterThan(0);
    expect(report.replication.ratio).toBeGreaterThan(0); // with WAIT / without, measured in the same run
    const markdown = readFileSync(path.join(reportsDir(), "bench.md"), "utf8");
    expect(markdown).toContain("| stateful | read |");
    expect(markdown).toContain("## The price of safe replication");
  }, 300_000);
});

describe("the memory part's heap probe", () => {
  it("answers SIGUSR2 with the heap in use after a full garbage collection, written to BENCH_HEAP_FILE", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "heap-probe-"));
    const file = path.join(dir, "heap.json");
    const probe = path.join(REPO_ROOT, "dist", "scripts", "bench", "heap-probe.js");
    // A process that holds about 8 MB of live strings, and makes garbage of the same size.
    const child = spawn(process.execPath, ["--expose-gc", "--require", probe, "-e", "globalThis.kept = Array.from({ length: 2e5 }, (_, i) => 'x'.repeat(32) + i); for (let i = 0; i < 2e5; i++) 'y'.repeat(32) + i; setInterval(() => {}, 1000)"], {
      env: { ...process.env, BENCH_HEAP_FILE: file },
      stdio: "ignore",
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      child.kill("SIGUSR2");
      for (let waited = 0; waited < 5000 && !existsSync(file); waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
      const usage = JSON.parse(readFileSync(file, "utf8"));
      expect(usage.heapUsed).toBeGreaterThan(8e6); // the kept strings are there
      expect(usage.heapUsed).toBeLessThan(usage.heapTotal);
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
