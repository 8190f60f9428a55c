/**
 * Statistics computed once, after the run, from plain arrays.
 *
 * Percentiles use linear interpolation between closest ranks (Hyndman & Fan
 * type 7, the default of numpy and R and Excel's PERCENTILE.INC):
 * h = (n - 1) p, q = x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
 * p100 is the maximum. Confidence intervals for a mean use Student's t with
 * n - 1 degrees of freedom (two-sided 95%).
 */

export interface Distribution {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export interface MeanWithCi {
  /** Number of samples (repetitions). */
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1); 0 for n = 1. */
  stddev: number;
  /** Half-width of the 95% confidence interval; undefined when n < 2. */
  ci95?: number;
  low?: number;
  high?: number;
}

/** Type-7 percentile of already sorted values, p in [0, 100]. */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const h = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export function percentile(values: readonly number[], p: number): number {
  return percentileSorted([...values].sort((a, b) => a - b), p);
}

/** The distribution of values, or undefined when there are none. */
export function distribution(values: readonly number[]): Distribution | undefined {
  if (values.length === 0) return undefined;
  const sorted = Float64Array.from(values).sort();
  const arr = Array.from(sorted);
  return {
    count: arr.length,
    min: arr[0]!,
    p50: percentileSorted(arr, 50),
    p90: percentileSorted(arr, 90),
    p95: percentileSorted(arr, 95),
    p99: percentileSorted(arr, 99),
    max: arr[arr.length - 1]!,
    mean: arr.reduce((a, b) => a + b, 0) / arr.length,
  };
}

// Two-sided 95% Student t critical values for 1..30 degrees of freedom.
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101,
  2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** Two-sided 95% critical value of Student's t; a Cornish-Fisher expansion beyond 30 df. */
export function tCritical95(df: number): number {
  if (df < 1) return Number.NaN;
  if (df <= 30) return T95[Math.round(df) - 1]!;
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2);
}

/** Mean of the samples with its 95% confidence interval (t-distribution). */
export function meanWithCi(samples: readonly number[]): MeanWithCi | undefined {
  const n = samples.length;
  if (n === 0) return undefined;
  const mean = samples.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { n, mean, stddev: 0 };
  const variance = samples.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
  const stddev = Math.sqrt(variance);
  const ci95 = (tCritical95(n - 1) * stddev) / Math.sqrt(n);
  return { n, mean, stddev, ci95, low: mean - ci95, high: mean + ci95 };
}
