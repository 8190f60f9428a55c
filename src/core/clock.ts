import { performance } from 'node:perf_hooks';

/**
 * Time for every part of an emulated node (kubelet, runtime, links), passed in
 * rather than read from globals, so the same logic runs on wall time or on a
 * virtual clock for very large emulated clusters.
 */
export interface Clock {
  /** Milliseconds since the epoch, fractional, never going backwards on one clock. */
  now(): number;
  /** Resolves after `ms` (a task waiting: kubelet backoff, QPS refill). */
  sleep(ms: number): Promise<void>;
  /** Calls `fn` once after `ms` (a callback: a link's next delivery); returns a handle for clearTimer. */
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/** Wall time: monotonic high-resolution milliseconds on the epoch scale, and Node's timers. */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
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

/** The same wall clock under the name the kubelet code has used. */
export const realClock: Clock = systemClock;

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  /** Cleared or fired: the heap drops it when it comes up. */
  done: boolean;
}

// Earlier first; among equal times, the one set first.
function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * A clock that only moves when told to. Timers and sleepers share one queue (a
 * binary heap, so a virtual cluster with many thousands of sleepers stays cheap)
 * and run in time order, ties in the order they were set. `advance` lets each
 * woken task run its microtasks before the next timer fires; `advanceSync` is for
 * callback-only code (links) that needs no turn of the event loop.
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly heap: Timer[] = [];
  /** Timers set and neither fired nor cleared (the heap drops cleared ones lazily). A flag on the timer, not a map by
   * id: a modelled run sets millions, and a map's entries were a good part of its garbage. */
  private live = 0;

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const timer: Timer = { at: this.current + Math.max(0, ms), seq: ++this.seq, fn, done: false };
    this.live++;
    this.push(timer);
    return timer;
  }

  clearTimer(handle: unknown): void {
    const timer = handle as Timer | undefined;
    if (!timer || timer.done) return;
    timer.done = true;
    this.live--;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.setTimer(resolve, ms);
    });
  }

  /** Timers (and sleepers) waiting. */
  pending(): number {
    return this.live;
  }

  /** Advances to `now() + ms`, waking sleepers and firing timers in time order, each woken task running first. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      await flushMicrotasks();
      if (!this.fireNext(target)) break;
    }
    this.current = target;
    await flushMicrotasks();
  }

  /** When the earliest live timer is due, or undefined when none is: where a discrete-event loop jumps next. */
  nextDue(): number | undefined {
    for (;;) {
      const next = this.heap[0];
      if (next === undefined) return undefined;
      if (!next.done) return next.at;
      this.pop();
    }
  }

  /**
   * Jumps to the earliest pending time and fires, synchronously, every timer due then (those they set for that
   * instant too); false when nothing is pending. The caller lets woken tasks run before the next instant.
   */
  fireNextInstant(): boolean {
    const at = this.nextDue();
    if (at === undefined) return false;
    while (this.fireNext(at)) {
      /* fire the next one due at this instant */
    }
    this.current = Math.max(this.current, at);
    return true;
  }

  /** Advances to `now() + ms`, firing every timer due on the way, synchronously. */
  advanceSync(ms: number): void {
    const target = this.current + ms;
    while (this.fireNext(target)) {
      /* fire the next one */
    }
    this.current = target;
  }

  private fireNext(target: number): boolean {
    for (;;) {
      const next = this.heap[0];
      if (next === undefined || next.at > target) return false;
      this.pop();
      if (next.done) continue;
      next.done = true;
      this.live--;
      this.current = Math.max(this.current, next.at);
      next.fn();
      return true;
    }
  }

  private push(timer: Timer): void {
    const h = this.heap;
    h.push(timer);
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      const t = h[i]!;
      h[i] = h[parent]!;
      h[parent] = t;
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < h.length && before(h[l]!, h[min]!)) min = l;
      if (r < h.length && before(h[r]!, h[min]!)) min = r;
      if (min === i) break;
      const t = h[i]!;
      h[i] = h[min]!;
      h[min] = t;
      i = min;
    }
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
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
