// What the failover demo reads off its runs, on made-up inputs whose answer is known: the noise
// rule of its cost step (medians, middle halves, a bootstrap interval of the ratio, and a
// ranking only beyond the noise), and the Sentinels' timeline of one failover with its phases
// (docs/instructor-guide.md, "A 5-minute failover demo").

import { SentinelEvent } from "../processes/replicated-redis";
import { compareTimings, describeVerdict, quantile, spreadOf } from "../demos/noise";
import { failoverPhases, phasesLines, sentinelTimeline, timelineLines } from "../demos/sentinel-timeline";
import { seededRandom } from "../workbench/http-client";

/** `count` timings around `median` ms, spread like a loaded machine's (a long tail), from a seed. */
function timings(count: number, median: number, seed: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => median * Math.exp((random() - 0.5) * 0.8) + (random() < 0.1 ? 20 : 0));
}

describe("the cost step's noise rule", () => {
  it("reads the median and the middle half of a set of timings", () => {
    expect(spreadOf([9, 1, 8, 2, 7, 3, 6, 4, 5])).toEqual({ count: 9, median: 5, p25: 3, p75: 7 });
    expect(quantile([10, 20], 0.5)).toBe(15);
  });

  it("calls a setting slower when every resampled ratio of the medians is above 1", () => {
    const comparison = compareTimings(timings(200, 5, 1), timings(200, 8, 2));
    expect(comparison.verdict).toBe("slower");
    expect(comparison.interval[0]).toBeGreaterThan(1);
    expect(comparison.ratio).toBeGreaterThan(comparison.interval[0]);
    expect(comparison.ratio).toBeLessThan(comparison.interval[1]);
    expect(describeVerdict(comparison, "with WAIT")).toMatch(/: slower with WAIT, beyond the noise here/);
  });

  it("calls a setting faster when the whole interval is below 1", () => {
    const comparison = compareTimings(timings(200, 16, 3), timings(200, 6, 4));
    expect(comparison.verdict).toBe("faster");
    expect(comparison.interval[1]).toBeLessThan(1);
  });

  it("does not rank two sets drawn from one distribution: the same within the noise, with an interval around 1", () => {
    for (const seed of [5, 6, 7]) {
      const comparison = compareTimings(timings(200, 5, seed * 10), timings(200, 5, seed * 10 + 1));
      expect(comparison.verdict).toBe("same");
      expect(comparison.interval[0]).toBeLessThanOrEqual(1);
      expect(comparison.interval[1]).toBeGreaterThanOrEqual(1);
      const words = describeVerdict(comparison, "with the safe settings");
      expect(words).toContain("the same within the noise here");
      expect(words).not.toMatch(/slower|faster/);
    }
  });

  it("does not rank 20 noisy samples whose medians differ by chance, where 200 of the same kind would", () => {
    const few = compareTimings(timings(20, 6, 8), timings(20, 7, 9));
    expect(few.verdict).toBe("same");
    const many = compareTimings(timings(400, 6, 8), timings(400, 7, 9));
    expect(many.verdict).toBe("slower");
  });

  it("gives the same interval for the same samples (the bootstrap is seeded)", () => {
    const [a, b] = [timings(200, 5, 11), timings(200, 5.5, 12)];
    expect(compareTimings(a, b).interval).toEqual(compareTimings(a, b).interval);
  });
});

/** A SIGKILL of the primary 127.0.0.1:6379 at t = 1000 ms, as three Sentinels announced it (measured, trimmed). */
const OLD = "127.0.0.1:6379";
const events: SentinelEvent[] = [
  [900, "sentinel-1", "+sdown", "sentinel 555a 127.0.0.1 26380 @ lab 127.0.0.1 6379"],
  [2929, "sentinel-3", "+sdown", "master lab 127.0.0.1 6379"],
  [3023, "sentinel-2", "+sdown", "master lab 127.0.0.1 6379"],
  [3037, "sentinel-1", "+sdown", "master lab 127.0.0.1 6379"],
  [3095, "sentinel-1", "+odown", "master lab 127.0.0.1 6379 #quorum 3/2"],
  [3095, "sentinel-1", "+try-failover", "master lab 127.0.0.1 6379"],
  [3096, "sentinel-2", "+odown", "master lab 127.0.0.1 6379 #quorum 2/2"],
  [3096, "sentinel-2", "+try-failover", "master lab 127.0.0.1 6379"],
  [3154, "sentinel-1", "+elected-leader", "master lab 127.0.0.1 6379"],
  [3220, "sentinel-1", "+selected-slave", "slave 127.0.0.1:6380 127.0.0.1 6380 @ lab 127.0.0.1 6379"],
  [4118, "sentinel-1", "+promoted-slave", "slave 127.0.0.1:6380 127.0.0.1 6380 @ lab 127.0.0.1 6379"],
  [4177, "sentinel-3", "+switch-master", "lab 127.0.0.1 6379 127.0.0.1 6380"],
  [4177, "sentinel-2", "+switch-master", "lab 127.0.0.1 6379 127.0.0.1 6380"],
  [5188, "sentinel-2", "+sdown", "slave 127.0.0.1:6379 127.0.0.1 6379 @ lab 127.0.0.1 6380"],
  [5213, "sentinel-1", "+failover-end", "master lab 127.0.0.1 6379"],
  [5213, "sentinel-1", "+switch-master", "lab 127.0.0.1 6379 127.0.0.1 6380"],
].map(([at, sentinel, type, detail]) => ({ at: at as number, sentinel, type, detail }) as SentinelEvent);

describe("the Sentinels' timeline", () => {
  const steps = sentinelTimeline(events, 1000, OLD);

  it("keeps one line per step about the failed primary, from the first Sentinel to announce it, in ms since the fault", () => {
    expect(steps.map((step) => [step.ms, step.type, step.sentinel])).toEqual([
      [1929, "+sdown", "sentinel-3"],
      [2095, "+odown", "sentinel-1"],
      [2095, "+try-failover", "sentinel-1"],
      [2154, "+elected-leader", "sentinel-1"],
      [2220, "+selected-slave", "sentinel-1"],
      [3118, "+promoted-slave", "sentinel-1"],
      [3177, "+switch-master", "sentinel-3"],
      [4213, "+failover-end", "sentinel-1"],
    ]);
  });

  it("says which other Sentinels announced the same step, and when", () => {
    expect(steps[0].others).toEqual([
      { sentinel: "sentinel-2", ms: 2023 },
      { sentinel: "sentinel-1", ms: 2037 },
    ]);
    expect(steps.find((step) => step.type === "+switch-master")?.others.map((other) => other.sentinel)).toEqual([
      "sentinel-2",
      "sentinel-1",
    ]);
    expect(timelineLines(steps)[0]).toMatch(
      /^ +\+1,929 ms {2}\+sdown +sentinel-3: subjectively down: 127\.0\.0\.1:6379 .*\(also sentinel-2 \+2,023, sentinel-1 \+2,037\)$/,
    );
    expect(timelineLines(steps)[1]).toContain("objectively down: 3 Sentinels agree (quorum 2)");
  });

  it("adds up the phases: noticed, agreed and voted, promoted and announced", () => {
    const phases = failoverPhases(steps);
    expect(phases).toEqual({ noticed: 1929, agreed: 225, promoted: 1023, total: 3177 });
    expect(phasesLines(phases as NonNullable<typeof phases>, 1000).join(" ")).toMatch(
      /1,929 ms to the first \+sdown .* 225 ms to \+elected-leader .* 1,023 ms to \+switch-master .* 3,177 ms from the fault/,
    );
  });

  it("has no phases while the Sentinels have not announced a new primary", () => {
    expect(failoverPhases(sentinelTimeline(events.slice(0, 9), 1000, OLD))).toBeUndefined();
  });
});
