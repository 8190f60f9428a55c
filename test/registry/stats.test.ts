import { describe, expect, it } from 'vitest';
import { parseRange } from '../../src/registry/api-http.js';
import { RegistryHttpError } from '../../src/registry/http-error.js';
import { PullRateLimiter, emptyStats, toOpenMetrics } from '../../src/registry/stats.js';

describe('the pull rate limiter', () => {
  it('counts per client and starts a new window when the old one ends', () => {
    let now = 0;
    const limiter = new PullRateLimiter(2, 1000, () => now);
    expect(limiter.take('a')).toBe(1);
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(-1);
    expect(limiter.take('b')).toBe(1);
    now = 1000;
    expect(limiter.remaining('a')).toBe(2);
    expect(limiter.take('a')).toBe(1);
    expect(limiter.headers(-3)).toEqual({ 'ratelimit-limit': '2;w=1', 'ratelimit-remaining': '0;w=1' });
  });
});

describe('OpenMetrics output', () => {
  it('has upstream counters only in mirror mode and ends with # EOF', () => {
    expect(toOpenMetrics(emptyStats(false))).not.toContain('upstream');
    const text = toOpenMetrics({ ...emptyStats(true), upstreamBlobGet: 3 });
    expect(text).toContain('pullbench_registry_upstream_fetches_total{kind="blob"} 3');
    expect(text.endsWith('# EOF\n')).toBe(true);
  });
});

describe('Range parsing', () => {
  it('handles open, closed and suffix ranges and rejects unsatisfiable ones', () => {
    expect(parseRange(undefined, 10)).toBeUndefined();
    expect(parseRange('bytes=2-', 10)).toEqual({ start: 2, end: 9 });
    expect(parseRange('bytes=2-100', 10)).toEqual({ start: 2, end: 9 });
    expect(parseRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange('bytes=0-1,4-5', 10)).toBeUndefined();
    for (const bad of ['bytes=10-', 'bytes=5-2', 'bytes=-0', 'items=0-1', 'bytes=-']) {
      expect(() => parseRange(bad, 10), bad).toThrow(RegistryHttpError);
    }
  });
});
