import { percentileSorted } from './stats.js';
import { seededRandom } from '../core/clock.js';

/**
 * Bootstrap confidence intervals, deterministic: the same inputs and seed give
 * the same interval on every machine (a regression gate must not flap on its
 * own randomness).
 */

/** FNV-1a of a string: a stable seed per arm and metric, independent of their order. */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface DifferenceCi {
  /** statistic(current) - statistic(baseline) on the observed samples. */
  delta: number;
  /** 2.5th and 97.5th percentiles of the resampled differences. */
  low: number;
  high: number;
  resamples: number;
}

/**
 * Samples of one run: per repetition (a cluster: its pods shared the same
 * moment of the machine), per stratum (e.g. rollout step: a v1 rollout and a
 * v2 update pull different bytes), the values.
 */
export type Samples = readonly (readonly (readonly number[])[])[];

const byValue = (x: number, y: number): number => x - y;

/** Every value pooled and sorted. */
export function pooled(samples: Samples): number[] {
  return samples.flat(2).sort(byValue);
}

// Two-stage resample: repetitions with replacement, then values within each stratum of each picked repetition.
function resample(samples: Samples, random: () => number): number[] {
  const out: number[] = [];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const reps = samples.length > 1 ? samples.map(() => pick(samples)) : samples;
  for (const rep of reps) for (const s of rep) for (let i = 0; i < s.length; i++) out.push(pick(s));
  return out.sort(byValue);
}

/**
 * Percentile bootstrap CI (95%) of statistic(current) - statistic(baseline):
 * both runs are resampled independently, `resamples` times, in two stages
 * (repetitions, then values within each stratum), so the spread between
 * repetitions counts as noise and the mix of strata stays as observed.
 * `statistic` receives a sorted array.
 */
export function bootstrapDifference(
  baseline: Samples,
  current: Samples,
  statistic: (sorted: readonly number[]) => number,
  options: { seed: number; resamples?: number },
): DifferenceCi {
  const resamples = options.resamples ?? 2000;
  const random = seededRandom(options.seed);
  const nonEmpty = (x: Samples): Samples => x.map((rep) => rep.filter((s) => s.length > 0)).filter((rep) => rep.length > 0);
  const b = nonEmpty(baseline);
  const c = nonEmpty(current);
  const delta = statistic(pooled(c)) - statistic(pooled(b));
  const diffs = new Array<number>(resamples);
  for (let r = 0; r < resamples; r++) diffs[r] = statistic(resample(c, random)) - statistic(resample(b, random));
  diffs.sort(byValue);
  return { delta, low: percentileSorted(diffs, 2.5), high: percentileSorted(diffs, 97.5), resamples };
}
