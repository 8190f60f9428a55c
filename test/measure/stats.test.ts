import { describe, expect, it } from 'vitest';
import { distribution, meanWithCi, percentile, tCritical95 } from '../../src/measure/stats.js';

describe('percentiles (type 7, linear between closest ranks)', () => {
  it('match numpy.percentile on a small sample', () => {
    // numpy.percentile([15, 20, 35, 40, 50], [50, 90, 95, 99]) -> 35, 46, 48, 49.6
    const v = [40, 15, 50, 35, 20];
    expect(percentile(v, 50)).toBe(35);
    expect(percentile(v, 90)).toBeCloseTo(46, 10);
    expect(percentile(v, 95)).toBeCloseTo(48, 10);
    expect(percentile(v, 99)).toBeCloseTo(49.6, 10);
    expect(percentile(v, 100)).toBe(50);
  });

  it('give the single value for one sample and NaN for none', () => {
    expect(percentile([7], 95)).toBe(7);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
    expect(distribution([])).toBeUndefined();
  });

  it('summarise a distribution', () => {
    const d = distribution(Array.from({ length: 101 }, (_, i) => i))!;
    expect(d).toEqual({ count: 101, min: 0, p50: 50, p90: 90, p95: 95, p99: 99, max: 100, mean: 50 });
  });
});

describe('mean with a 95% confidence interval', () => {
  it('uses Student t with n - 1 degrees of freedom', () => {
    // scipy.stats.t.interval(0.95, 4, loc=mean, scale=sem) for [10, 12, 11, 13, 9]: mean 11, sd 1.5811, half-width 1.9632
    const r = meanWithCi([10, 12, 11, 13, 9])!;
    expect(r.mean).toBe(11);
    expect(r.stddev).toBeCloseTo(1.5811, 4);
    expect(r.ci95).toBeCloseTo(1.9632, 3);
  });

  it('has no interval for a single repetition', () => {
    expect(meanWithCi([5])).toEqual({ n: 1, mean: 5, stddev: 0 });
  });

  it('approaches the normal critical value for many samples', () => {
    expect(tCritical95(2)).toBe(4.303);
    expect(tCritical95(60)).toBeCloseTo(2.0003, 3);
    expect(tCritical95(1000)).toBeCloseTo(1.9623, 3);
  });
});
