import { describe, expect, it } from 'vitest';
import { ManualClock, realClock, systemClock } from '../../src/core/clock.js';

describe('the one Clock', () => {
  it('is one clock under both names', () => {
    expect(realClock).toBe(systemClock);
  });

  it('reads wall time on the epoch scale, never going backwards', () => {
    const a = systemClock.now();
    const b = systemClock.now();
    expect(Math.abs(a - Date.now())).toBeLessThan(1000);
    expect(b).toBeGreaterThanOrEqual(a);
  });

  it('wakes sleepers and fires link timers from one queue, in time order', async () => {
    const clock = new ManualClock(1_000);
    const seen: string[] = [];
    const task = (async () => {
      await clock.sleep(30);
      seen.push(`task woke at ${clock.now()}`);
      // A woken task schedules more before the next timer fires.
      await clock.sleep(5);
      seen.push(`task woke at ${clock.now()}`);
    })();
    clock.setTimer(() => seen.push(`timer at ${clock.now()}`), 10);
    clock.setTimer(() => seen.push(`timer at ${clock.now()}`), 34);
    const cancelled = clock.setTimer(() => seen.push('cancelled'), 20);
    clock.clearTimer(cancelled);
    expect(clock.pending()).toBe(3);
    await clock.advance(100);
    await task;
    expect(seen).toEqual(['timer at 1010', 'task woke at 1030', 'timer at 1034', 'task woke at 1035']);
    expect(clock.now()).toBe(1_100);
    expect(clock.pending()).toBe(0);
  });

  it('fires callback timers synchronously with advanceSync, ties in the order they were set', () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    clock.setTimer(() => seen.push(2), 5);
    clock.setTimer(() => seen.push(1), 5);
    clock.setTimer(() => clock.setTimer(() => seen.push(3), 0), 5);
    clock.advanceSync(4);
    expect(seen).toEqual([]);
    clock.advanceSync(1);
    expect(seen).toEqual([2, 1, 3]);
    expect(clock.now()).toBe(5);
  });
});

describe('a ManualClock with many sleepers', () => {
  it('wakes 20,000 of them in time order, skipping cleared timers', async () => {
    const clock = new ManualClock();
    const woke: number[] = [];
    const n = 20_000;
    // Deadlines in a scrambled order, every tenth timer cleared.
    const order = Array.from({ length: n }, (_, i) => (i * 7919) % n);
    const handles = order.map((at) => clock.setTimer(() => woke.push(at), at));
    handles.forEach((h, i) => {
      if (order[i]! % 10 === 0) clock.clearTimer(h);
    });
    clock.advanceSync(n);
    expect(woke).toHaveLength(n - n / 10);
    expect(woke.every((at, i) => i === 0 || at > woke[i - 1]!)).toBe(true);
    expect(clock.pending()).toBe(0);
  });
});
