import { performance } from 'node:perf_hooks';

/** Time for the shaper: milliseconds (fractional) and one-shot timers. Tests pass a manual clock. */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  // setTimeout(0) waits at least 1 ms; work due now runs on the next turn instead.
  setTimer: (fn, ms) => {
    if (ms < 0.5) return { immediate: setImmediate(fn) };
    const t = setTimeout(fn, ms);
    // A proxy's pending deliveries must not keep a finished process alive.
    t.unref();
    return t;
  },
  clearTimer: (h) => {
    if (h !== null && typeof h === 'object' && 'immediate' in h) clearImmediate((h as { immediate: NodeJS.Immediate }).immediate);
    else clearTimeout(h as NodeJS.Timeout);
  },
};

/** A clock that only moves when told to; timers run in time order as it advances. */
export class ManualClock implements Clock {
  private time = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.time + Math.max(0, ms), fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Advances to `now() + ms`, running every timer due on the way. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.time = Math.max(this.time, next[1].at);
      next[1].fn();
    }
    this.time = end;
  }
}

/** mulberry32: a small seeded PRNG so that fault injection is reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
