// Where a design's time goes, for the goals the benchmark misses: a CPU profile of the server
// under the read load (node --cpu-prof, summarised as self time by package and by function)
// and the Redis commands each request sends (INFO commandstats). The benchmark is described
// in docs/how-the-lab-works.md ("The benchmark harness"); its figures in docs/results.md.

import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type Redis from "ioredis";
import { Design, isPhase1 } from "../designs";
import { serverArguments, ServerInstance } from "../processes/server-instance";
import { load, logIn } from "./load";

export interface Profile {
  design: string;
  top_packages: Array<{ name: string; percent: number }>;
  top_functions: Array<{ name: string; percent: number }>;
  redis_commands_per_read: Record<string, number> | null;
  redis_commands_per_write: Record<string, number> | null;
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

/** Self time by package (node_modules name, node: module, or our own file) and by function. */
export function summarise(profile: CpuProfile): Pick<Profile, "top_packages" | "top_functions"> {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const frame = nodes.get(id);
    const time = profile.timeDeltas[i] ?? 0;
    // Idle is the time the process waited (for the next request, for Redis): not where its CPU went.
    if (!frame || frame.functionName === "(idle)") return;
    total += time;
    const url = frame.url.replace(/^file:\/\//, "");
    // V8's own entries ("(garbage collector)", "(idle)") have no URL: they stand for themselves.
    const pkg =
      /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)?.[1] ??
      (url.startsWith("node:") ? url : url ? path.basename(url) : frame.functionName || "(native)");
    const fn = url ? `${frame.functionName || "(anonymous)"} ${pkg}:${frame.lineNumber + 1}` : pkg;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + time);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + time);
  });
  const top = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([name, time]) => ({ name, percent: Math.round((time / Math.max(1, total)) * 1000) / 10 }));
  return { top_packages: top(byPackage), top_functions: top(byFunction) };
}

async function commandsPer(admin: Redis, send: () => Promise<unknown>, count: number): Promise<Record<string, number>> {
  await admin.config("RESETSTAT");
  for (let i = 0; i < count; i += 1) await send();
  const stats = await admin.info("commandstats");
  const per: Record<string, number> = {};
  for (const match of stats.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) {
    if (match[1] === "config" || match[1] === "info") continue;
    per[match[1]] = Math.round((Number(match[2]) / count) * 100) / 100;
  }
  return per;
}

export async function profileDesign(
  design: Design,
  env: Record<string, string>,
  users: string[],
  writers: string[],
  runDir: string,
  admin: Redis,
): Promise<Profile> {
  const profileDir = path.join(runDir, `profile-${design}`);
  const instance = new ServerInstance({
    design,
    serverId: `profile-${design}`,
    env,
    dir: runDir,
    args: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, ...serverArguments(design)],
  });
  await instance.start();
  try {
    const readers = await logIn(design, instance.url, users.slice(0, 200));
    const uploaders = await logIn(design, instance.url, writers.slice(0, 20));
    let perRead: Record<string, number> | null = null;
    let perWrite: Record<string, number> | null = null;
    if (!isPhase1(design)) {
      perRead = await commandsPer(
        admin,
        () => fetch(`${instance.url}/api/files`, { headers: readers[0] }).then((r) => r.arrayBuffer()),
        100,
      );
      let n = 0;
      perWrite = await commandsPer(
        admin,
        () =>
          fetch(`${instance.url}/api/upload`, {
            method: "POST",
            headers: {
              ...uploaders[0],
              "content-type": "application/json",
              "idempotency-key": `profile-${design}-${n++}`,
            },
            body: '{"filename":"p.txt","content":"p"}',
          }).then((r) => r.arrayBuffer()),
        100,
      );
    }
    await load(instance.url, "read", readers, 2);
    await instance.stop(); // the profile is written as the process exits
    const file = readdirSync(profileDir).find((name) => name.endsWith(".cpuprofile"));
    const summary = file
      ? summarise(JSON.parse(readFileSync(path.join(profileDir, file), "utf8")))
      : { top_packages: [], top_functions: [] };
    return { design, ...summary, redis_commands_per_read: perRead, redis_commands_per_write: perWrite };
  } finally {
    await instance.kill();
  }
}
