import { seededRandom } from '../core/clock.js';
/**
 * E-Divisive with means (Matteson & James, "A Nonparametric Approach for Multiple Change
 * Point Analysis of Multivariate Data", JASA 2014), as MongoDB's
 * signal-processing-algorithms and Hunter run it on nightly performance series
 * (e_divisive/calculators: the q-statistic with alpha = 1, a permutation test per split,
 * bisecting the segments until no split is significant). Pure and seeded, so a series
 * gives the same change points every time.
 */
export interface ChangePointOptions {
  /** Smallest segment on either side of a change: 2 means one odd night is never a change. */
  minSize?: number;
  /** Permutations per significance test. */
  permutations?: number;
  /** Significance level of the permutation test. */
  pValue?: number;
  seed?: number;
}

export interface FoundChange {
  /** The index of the first point after the change. */
  index: number;
  pValue: number;
}

/**
 * The best split of x[start, end) and its q-statistic; undefined when no split leaves
 * minSize on both sides. W(a, b) is the sum of |xi - xj| over ordered pairs in [a, b);
 * moving the split one point updates both sides' W in O(n), so a segment costs O(n^2).
 */
function bestSplit(x: readonly number[], start: number, end: number, minSize: number): { index: number; q: number } | undefined {
  const dist = (i: number, j: number): number => Math.abs(x[i]! - x[j]!);
  let total = 0;
  for (let i = start; i < end; i++) for (let j = start; j < end; j++) total += dist(i, j);
  let left = 0;
  let right = total;
  let best: { index: number; q: number } | undefined;
  for (let tau = start + 1; tau <= end - minSize; tau++) {
    // Point tau - 1 moves from the right side to the left.
    const p = tau - 1;
    for (let i = start; i < p; i++) left += 2 * dist(i, p);
    for (let j = p + 1; j < end; j++) right -= 2 * dist(p, j);
    if (tau - start < minSize) continue;
    const m = tau - start;
    const k = end - tau;
    const between = (total - left - right) / 2;
    const q = ((m * k) / (m + k)) * ((2 / (m * k)) * between - (m > 1 ? left / (m * (m - 1)) : 0) - (k > 1 ? right / (k * (k - 1)) : 0));
    if (!best || q > best.q) best = { index: tau, q };
  }
  return best;
}


/** Change points of a series, in order of index. */
export function changePoints(series: readonly number[], options: ChangePointOptions = {}): FoundChange[] {
  const minSize = options.minSize ?? 2;
  const permutations = options.permutations ?? 199;
  const alpha = options.pValue ?? 0.05;
  const next = seededRandom(options.seed ?? 1);
  const found: FoundChange[] = [];
  const segments: Array<[number, number]> = [[0, series.length]];
  while (segments.length > 0) {
    const [start, end] = segments.pop()!;
    const split = bestSplit(series, start, end, minSize);
    if (!split || split.q <= 0) continue;
    // The permutation test: how often a shuffled segment splits at least as well.
    const segment = series.slice(start, end);
    let atLeast = 0;
    for (let p = 0; p < permutations; p++) {
      for (let i = segment.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [segment[i], segment[j]] = [segment[j]!, segment[i]!];
      }
      const s = bestSplit(segment, 0, segment.length, minSize);
      if (s && s.q >= split.q) atLeast++;
    }
    const pValue = (atLeast + 1) / (permutations + 1);
    if (pValue > alpha) continue;
    found.push({ index: split.index, pValue });
    segments.push([start, split.index], [split.index, end]);
  }
  return found.sort((a, b) => a.index - b.index);
}
