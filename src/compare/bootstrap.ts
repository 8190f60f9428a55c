import { percentileSorted } from '../measure/stats.js';
import { seededRandom } from '../net/clock.js';

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

/** Samples as strata (e.g. one per rollout step): resampled within each stratum, pooled for the statistic. */
export type Strata = readonly (readonly number[])[];

const byValue = (x: number, y: number): number => x - y;

/** All strata pooled and sorted. */
export function pooled(strata: Strata): number[] {
  return strata.flat().sort(byValue);
}

// One resample: each stratum keeps its size, so the mix of (say) first pulls and update pulls stays as observed.
function resample(strata: Strata, random: () => number, out: number[]): number[] {
  let k = 0;
  for (const s of strata) for (let i = 0; i < s.length; i++) out[k++] = s[Math.floor(random() * s.length)]!;
  return out.sort(byValue);
}

/**
 * Stratified percentile bootstrap CI (95%) of statistic(current) -
 * statistic(baseline): both runs are resampled with replacement,
 * independently, within each stratum, `resamples` times. `statistic`
 * receives a sorted array.
 */
export function bootstrapDifference(
  baseline: Strata,
  current: Strata,
  statistic: (sorted: readonly number[]) => number,
  options: { seed: number; resamples?: number },
): DifferenceCi {
  const resamples = options.resamples ?? 2000;
  const random = seededRandom(options.seed);
  const b = baseline.filter((s) => s.length > 0);
  const c = current.filter((s) => s.length > 0);
  const delta = statistic(pooled(c)) - statistic(pooled(b));
  const bufB = new Array<number>(b.reduce((n, s) => n + s.length, 0));
  const bufC = new Array<number>(c.reduce((n, s) => n + s.length, 0));
  const diffs = new Array<number>(resamples);
  for (let r = 0; r < resamples; r++) diffs[r] = statistic(resample(c, random, bufC)) - statistic(resample(b, random, bufB));
  diffs.sort(byValue);
  return { delta, low: percentileSorted(diffs, 2.5), high: percentileSorted(diffs, 97.5), resamples };
}
