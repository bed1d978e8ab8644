// A short benchmark (one design, 1 s, one round) as a smoke test of `npm run bench`: the report
// has every part that docs/how-the-lab-works.md ("The benchmark harness") describes, and the
// ceilings and the design were measured with zero errors. No test asserts a speed: speed is
// what the benchmark reports, not what it tests.

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT, reportsDir } from "../processes";

describe("npm run bench, short", () => {
  it("writes reports/bench.json and bench.md with ceilings, designs, balancer and store, without errors", () => {
    const run = spawnSync(process.execPath, [path.join(REPO_ROOT, "dist", "scripts", "bench.js"), "--quick", "--duration", "1", "--design", "stateful", "--no-memory"], {
      encoding: "utf8",
      timeout: 240_000,
    });
    expect(run.stderr).not.toContain("Error");
    expect(run.status).toBe(0);
    const report = JSON.parse(readFileSync(path.join(reportsDir(), "bench.json"), "utf8"));
    expect(Object.keys(report)).toEqual(expect.arrayContaining(["date", "machine", "node", "redis", "options", "ceilings", "designs", "memory", "balancer", "store", "goals", "profiles"]));
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
    expect(readFileSync(path.join(reportsDir(), "bench.md"), "utf8")).toContain("| stateful | read |");
  }, 300_000);
});
