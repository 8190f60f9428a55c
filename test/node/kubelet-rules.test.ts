import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { Backoff } from '../../src/node/kubelet/backoff.js';
import { formatGoDuration } from '../../src/node/kubelet/duration.js';
import { TokenBucket } from '../../src/node/kubelet/limiter.js';
import { applyDefaultImageTag, defaultPullPolicy, shouldPullImage } from '../../src/node/kubelet/policy.js';
import { TaskQueue } from '../../src/util/task-queue.js';

describe('pull policy defaulting at pod creation', () => {
  it.each([
    ['nginx', 'Always'],
    ['nginx:latest', 'Always'],
    ['docker.io/library/nginx:latest', 'Always'],
    ['nginx:1.27', 'IfNotPresent'],
    ['localhost:5000/app:v1', 'IfNotPresent'],
    ['localhost:5000/app', 'Always'],
    [`nginx@sha256:${'a'.repeat(64)}`, 'IfNotPresent'],
    [`nginx:1.27@sha256:${'a'.repeat(64)}`, 'IfNotPresent'],
    [`nginx:latest@sha256:${'a'.repeat(64)}`, 'Always'],
  ])('%s defaults to %s', (image, policy) => {
    expect(defaultPullPolicy(image)).toBe(policy);
  });
});

describe('shouldPullImage', () => {
  it.each([
    ['Always', true, true],
    ['Always', false, true],
    ['IfNotPresent', true, false],
    ['IfNotPresent', false, true],
    ['Never', true, false],
    ['Never', false, false],
  ] as const)('%s with present=%s pulls: %s', (policy, present, pulls) => {
    expect(shouldPullImage(policy, present)).toBe(pulls);
  });
});

describe('applyDefaultImageTag', () => {
  it('appends :latest only when there is neither tag nor digest', () => {
    expect(applyDefaultImageTag('nginx')).toBe('nginx:latest');
    expect(applyDefaultImageTag('nginx:1.2')).toBe('nginx:1.2');
    expect(applyDefaultImageTag('nginx:latest')).toBe('nginx:latest');
    const d = `nginx@sha256:${'b'.repeat(64)}`;
    expect(applyDefaultImageTag(d)).toBe(d);
  });
  it('rejects an invalid name with INVALID_IMAGE_NAME', () => {
    expect(() => applyDefaultImageTag('UPPER/Case:tag')).toThrow(expect.objectContaining({ code: 'INVALID_IMAGE_NAME' }));
  });
});

describe("Go's duration formatting after truncation to ms", () => {
  it.each([
    [0, '0s'],
    [0.9, '0s'],
    [7, '7ms'],
    [512.7, '512ms'],
    [1000, '1s'],
    [1234, '1.234s'],
    [1500, '1.5s'],
    [10_050, '10.05s'],
    [62_500, '1m2.5s'],
    [60_000, '1m0s'],
    [3_600_000, '1h0m0s'],
    [3_723_004, '1h2m3.004s'],
  ])('%d ms prints as %s', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });
});

describe('image pull backoff', () => {
  it('starts at 10 s, doubles per failure, caps at 300 s, and is measured from the last failure', () => {
    const clock = new ManualClock(0);
    const b = new Backoff(clock);
    expect(b.isInBackOffSinceUpdate('k')).toBe(false);
    b.next('k', 0);
    expect(b.get('k')).toBe(10_000);
    expect(b.isInBackOffSinceUpdate('k', 9_999)).toBe(true);
    expect(b.isInBackOffSinceUpdate('k', 10_000)).toBe(false);
    const seen = [10_000];
    let t = 0;
    for (let i = 0; i < 7; i++) {
      t += b.get('k');
      b.next('k', t);
      seen.push(b.get('k'));
    }
    expect(seen).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  });
  it('starts over after being idle for more than twice the maximum', () => {
    const b = new Backoff(new ManualClock(0));
    b.next('k', 0);
    b.next('k', 10_000);
    expect(b.get('k')).toBe(20_000);
    b.next('k', 10_000 + 600_001);
    expect(b.get('k')).toBe(10_000);
  });
});

describe('registry pull QPS limiter', () => {
  it('allows a burst of 10, then refills at 5 per second', async () => {
    const clock = new ManualClock(0);
    const tb = new TokenBucket(clock, 5, 10);
    const first = Array.from({ length: 11 }, () => tb.tryAccept());
    expect(first.filter(Boolean)).toHaveLength(10);
    expect(first[10]).toBe(false);
    await clock.advance(199);
    expect(tb.tryAccept()).toBe(false);
    await clock.advance(1);
    expect(tb.tryAccept()).toBe(true);
    await clock.advance(1000);
    expect(Array.from({ length: 6 }, () => tb.tryAccept()).filter(Boolean)).toHaveLength(5);
  });
});

describe('pull queue', () => {
  it('never runs more than its limit at once, in FIFO order', async () => {
    const q = new TaskQueue(2);
    const order: number[] = [];
    let active = 0;
    let peak = 0;
    await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        q.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 5));
          order.push(i);
          active--;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(q.maxObserved()).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });
});
