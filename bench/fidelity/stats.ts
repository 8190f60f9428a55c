/**
 * Order statistics for the fidelity benchmark: the median of the rounds' ratios,
 * and a confidence interval for it that assumes no particular distribution of
 * the rounds, only that they are independent (each is as likely to fall above
 * the true median as below it, so the number below is binomial with p = 1/2).
 */

export function median(xs: number[]): number {
  if (xs.length === 0) throw new Error('median of no values');
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** P(X <= k) for X ~ Binomial(n, 1/2). */
export function binomialHalfCdf(n: number, k: number): number {
  // 2^-n underflows to 0 past n = 1074; no bench runs a thousand rounds.
  if (n > 1000) throw new Error(`binomialHalfCdf: n = ${n} is more than 1000`);
  if (k < 0) return 0;
  if (k >= n) return 1;
  let term = 2 ** -n; // P(X = 0)
  let sum = term;
  for (let i = 1; i <= k; i++) {
    term = (term * (n - i + 1)) / i;
    sum += term;
  }
  return sum;
}

export interface MedianInterval {
  low: number;
  high: number;
  /** The interval's actual coverage (order statistics give only some levels): at least the level asked for. */
  coverage: number;
}

/**
 * The distribution-free interval [x(k), x(n+1-k)] around the median of `xs`
 * (sorted, 1-based order statistics), with the largest k whose coverage,
 * 1 - 2 P(X <= k-1), is still at least `level`. Undefined where too few values
 * give that level at all (fewer than 6 at 95%).
 */
export function medianInterval(xs: number[], level = 0.95): MedianInterval | undefined {
  const n = xs.length;
  const s = [...xs].sort((a, b) => a - b);
  let k = 0;
  while (k + 1 <= n + 1 - (k + 1) && 1 - 2 * binomialHalfCdf(n, k) >= level) k++;
  if (k === 0) return undefined;
  return { low: s[k - 1]!, high: s[n - k]!, coverage: 1 - 2 * binomialHalfCdf(n, k - 1) };
}
