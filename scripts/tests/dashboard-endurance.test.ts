/**
 * @jest-environment ./test-support/machine-lock-environment.js
 * @machine-lock exclusive
 * @machine-heavy
 */
// The live view lasts a class (docs/instructor-guide.md, "The 10-minute demo"): its history is a
// bounded window and its users delete their old files, so its CPU and memory stay flat. A class
// is an hour at a request every 400 ms or so per user; this test runs the users 20 times as fast
// (--pace 20) for about two and a half minutes, about 50 minutes of a class's requests, and
// compares the dashboard process's CPU and RSS over 30 s early (25-55 s) and late (125-155 s). It
// prints the operations per second too: a session view lists every upload of its session, so the
// users renew their sessions now and then, or every request would slow down as they grow. It
// loads the machine and measures it, so it runs alone (exclusive); Linux only (/proc).

import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { sleep } from "../processes/managed-process";
import { interrupt, startDashboard, stopDashboards } from "../../test-support/dashboard-process";
import { killSurvivors } from "../../test-support/pid-log";

const scratch = mkdtempSync(path.join(os.tmpdir(), "dashboard-endurance-"));
const onLinux = existsSync("/proc/self/stat") ? describe : describe.skip;
const TICKS_PER_SECOND = 100; // Linux's USER_HZ, what /proc/<pid>/stat counts in

afterAll(async () => {
  await stopDashboards(scratch);
  rmSync(scratch, { recursive: true, force: true });
}, 30_000);

/** CPU seconds used so far by a process (user + system). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime and stime, fields 14 and 15
}

/** Resident memory of a process, in MiB. */
function rssMiB(pid: number): number {
  const kB = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
  return kB / 1024;
}

/** A page's stream, read as a browser would; what it was told, kept for the asserts. */
function follow(url: string) {
  const seen = { quotaRows: 0, quotaSentences: 0, ops: 0, messages: 0 };
  let buffer = "";
  const request = http.get(`${url}events`, (response) => {
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1];
        buffer = buffer.slice(end + 2);
        if (!data) continue;
        const message = JSON.parse(data) as {
          snapshot: { users: Array<{ state: string; last: string }>; figures: { ops: number } };
          narration: Array<{ text: string }>;
        };
        seen.messages += 1;
        seen.ops = message.snapshot.figures.ops;
        seen.quotaRows += message.snapshot.users.filter((user) => / 413 /.test(` ${user.last} `)).length;
        seen.quotaSentences += message.narration.filter((entry) => entry.text.includes("413")).length;
      }
    });
  });
  request.on("error", () => undefined);
  return { seen, stop: () => request.destroy() };
}

/** CPU (% of one core), mean RSS and operations over a window of `seconds`, sampled every 2 s. */
async function measure(pid: number, seconds: number, ops: () => number) {
  const [cpu0, ops0, started] = [cpuSeconds(pid), ops(), Date.now()];
  const rss: number[] = [];
  while (Date.now() - started < seconds * 1000) {
    rss.push(rssMiB(pid));
    await sleep(2000);
  }
  const elapsed = (Date.now() - started) / 1000;
  return {
    cpuPercent: ((cpuSeconds(pid) - cpu0) / elapsed) * 100,
    rssMiB: rss.reduce((sum, each) => sum + each, 0) / rss.length,
    opsPerSecond: (ops() - ops0) / elapsed,
  };
}

onLinux("the live view over a class", () => {
  it("keeps its CPU and its memory late in a run within 20% of early, at 20 times the classroom's pace, and no upload meets the quota", async () => {
    const dashboard = await startDashboard(scratch, ["--design", "redis-session", "--pace", "20"], "endurance");
    const stream = follow(dashboard.url);
    const began = Date.now();
    const at = (seconds: number) => sleep(Math.max(0, began + seconds * 1000 - Date.now()));
    await at(25);
    const early = await measure(dashboard.pid, 30, () => stream.seen.ops);
    await at(125);
    const late = await measure(dashboard.pid, 30, () => stream.seen.ops);
    stream.stop();
    const round = (value: number) => Math.round(value * 10) / 10;
    console.log(
      `dashboard at 20x pace: CPU ${round(early.cpuPercent)}% at 25-55 s, ${round(late.cpuPercent)}% at 125-155 s; ` +
        `RSS ${round(early.rssMiB)} MiB, then ${round(late.rssMiB)} MiB; ` +
        `${Math.round(early.opsPerSecond)} and ${Math.round(late.opsPerSecond)} operations/s ` +
        `(${round((early.cpuPercent / early.opsPerSecond) * 1000)} and ${round((late.cpuPercent / late.opsPerSecond) * 1000)} ms of CPU per 100 operations); ` +
        `${stream.seen.ops} operations in all`,
    );
    expect(stream.seen.messages).toBeGreaterThan(400); // the page was told four times a second
    expect(Math.abs(late.cpuPercent - early.cpuPercent)).toBeLessThanOrEqual(early.cpuPercent * 0.2);
    expect(Math.abs(late.rssMiB - early.rssMiB)).toBeLessThanOrEqual(early.rssMiB * 0.2);
    expect({ quotaRows: stream.seen.quotaRows, quotaSentences: stream.seen.quotaSentences }).toEqual({
      quotaRows: 0,
      quotaSentences: 0,
    });
    expect(await interrupt(dashboard)).toBe(130);
    expect(killSurvivors(dashboard.pidLog)).toEqual([]);
  }, 200_000);
});
