// Is a difference beyond the noise? Two sets of timings taken in turn on one shared machine,
// compared the way a careful benchmark would: each one's median and middle half (p25 to p75),
// and a bootstrap 95% interval of the ratio of the medians. The two are ranked only when that
// interval leaves 1 out; otherwise they are the same within the noise, whatever the medians
// say. The failover demo's cost step uses it (docs/instructor-guide.md, "A 5-minute failover demo").

import { seededRandom } from "../workbench/http-client";

/** One set of timings: its median and the middle half of it, in the samples' own unit. */
export interface Spread {
  count: number;
  median: number;
  p25: number;
  p75: number;
}

export interface Comparison {
  baseline: Spread;
  candidate: Spread;
  /** median(candidate) / median(baseline): above 1, the candidate is slower. */
  ratio: number;
  /** The bootstrap 95% interval of that ratio. */
  interval: [low: number, high: number];
  /** "slower" or "faster": the candidate, when the interval leaves 1 out; "same" otherwise. */
  verdict: "slower" | "faster" | "same";
}

/** The q-quantile (0 to 1) of sorted values, interpolated between the two nearest ranks. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = (sorted.length - 1) * q;
  const below = Math.floor(rank);
  const above = Math.ceil(rank);
  return sorted[below] + (sorted[above] - sorted[below]) * (rank - below);
}

export function spreadOf(samples: readonly number[]): Spread {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    count: sorted.length,
    median: quantile(sorted, 0.5),
    p25: quantile(sorted, 0.25),
    p75: quantile(sorted, 0.75),
  };
}

/** A typed array sorts numbers natively, without a comparison callback: thousands of resamples stay quick. */
function medianOf(values: Float64Array): number {
  values.sort();
  const middle = (values.length - 1) / 2;
  return (values[Math.floor(middle)] + values[Math.ceil(middle)]) / 2;
}

/**
 * Compares two sets of timings. The bootstrap draws `resamples` new sets from the measured ones
 * (with replacement) and takes the ratio of their medians each time: the middle 95% of those
 * ratios is how far the measured ratio could move from chance alone. Samples taken in pairs
 * (the same count, one of each in turn) are drawn as pairs, so that a moment when the whole
 * machine was slow weighs on both sides alike. Seeded: the same samples give the same interval.
 */
export function compareTimings(
  baseline: readonly number[],
  candidate: readonly number[],
  { resamples = 2000, seed = 7 } = {},
): Comparison {
  if (baseline.length === 0 || candidate.length === 0) throw new Error("compareTimings needs samples on both sides");
  const random = seededRandom(seed);
  const pick = (count: number) => Math.floor(random() * count);
  const paired = baseline.length === candidate.length;
  const ratios: number[] = [];
  const a = new Float64Array(baseline.length);
  const b = new Float64Array(candidate.length);
  for (let round = 0; round < resamples; round += 1) {
    if (paired) {
      for (let i = 0; i < baseline.length; i += 1) {
        const index = pick(baseline.length);
        a[i] = baseline[index];
        b[i] = candidate[index];
      }
    } else {
      for (let i = 0; i < baseline.length; i += 1) a[i] = baseline[pick(baseline.length)];
      for (let i = 0; i < candidate.length; i += 1) b[i] = candidate[pick(candidate.length)];
    }
    ratios.push(medianOf(b) / medianOf(a));
  }
  ratios.sort((x, y) => x - y);
  const interval: [number, number] = [quantile(ratios, 0.025), quantile(ratios, 0.975)];
  const both = { baseline: spreadOf(baseline), candidate: spreadOf(candidate) };
  const verdict = interval[0] > 1 ? "slower" : interval[1] < 1 ? "faster" : "same";
  return { ...both, ratio: both.candidate.median / both.baseline.median, interval, verdict };
}

const ms = (value: number) => value.toFixed(1);
const times = (value: number) => value.toFixed(2);

/** "median 4.8 ms (p25-p75 4.3-5.6 ms, 200 samples)" */
export function describeSpread(spread: Spread): string {
  return `median ${ms(spread.median)} ms (p25-p75 ${ms(spread.p25)}-${ms(spread.p75)} ms, ${spread.count} samples)`;
}

/**
 * The ratio, its interval and the verdict in words; `subject` says what the candidate had
 * ("with the safe settings"). It ranks the two only when the interval leaves 1 out.
 */
export function describeVerdict(comparison: Comparison, subject: string): string {
  const [low, high] = comparison.interval;
  const figures = `ratio of the medians ${times(comparison.ratio)} (bootstrap 95% interval ${times(low)}-${times(high)})`;
  switch (comparison.verdict) {
    case "slower":
      return `${figures}: slower ${subject}, beyond the noise here (the interval is above 1)`;
    case "faster":
      return `${figures}: faster ${subject}, beyond the noise here (the interval is below 1)`;
    case "same":
      return `${figures}: the same within the noise here (the interval includes 1), so no ranking`;
  }
}
