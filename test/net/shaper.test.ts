import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { Link, ManualClock, SharedUplink, type LinkSpec } from '../../src/net/index.js';

/** A receiver recording when each byte arrived (by the manual clock). */
function recorder(clock: ManualClock) {
  const arrivals: { at: number; bytes: number }[] = [];
  let endedAt: number | undefined;
  return {
    sink: {
      deliver: (chunk: Buffer) => void arrivals.push({ at: clock.now(), bytes: chunk.length }),
      end: () => void (endedAt = clock.now()),
      writable: () => true,
    },
    received: () => arrivals.reduce((n, a) => n + a.bytes, 0),
    firstAt: () => arrivals[0]?.at,
    lastAt: () => arrivals.at(-1)?.at,
    endedAt: () => endedAt,
    arrivals,
  };
}

const mbit = (n: number): number => n * 1_000_000;

describe('a shaped link (manual clock)', () => {
  it('serialises at the configured bandwidth and adds the one-way latency once', () => {
    const clock = new ManualClock();
    const link = new Link({ bandwidthBps: mbit(8), latencyMs: 20 }, { clock }); // 1000 bytes/ms
    const rx = recorder(clock);
    const flow = link.openFlow('down', rx.sink);
    flow.write(Buffer.alloc(100_000));
    flow.end();
    clock.advanceSync(1000);
    expect(rx.received()).toBe(100_000);
    // First 16 KiB quantum leaves after 16.384 ms and arrives 20 ms later; the last byte at 100 + 20 ms.
    expect(rx.firstAt()).toBeCloseTo(16.384 + 20, 3);
    expect(rx.lastAt()).toBeCloseTo(120, 3);
    expect(rx.endedAt()).toBeCloseTo(120, 3);
  });

  it('keeps both directions independent (full duplex)', () => {
    const clock = new ManualClock();
    const link = new Link({ bandwidthBps: mbit(8), latencyMs: 5 }, { clock });
    const down = recorder(clock);
    const up = recorder(clock);
    link.openFlow('down', down.sink).write(Buffer.alloc(50_000));
    link.openFlow('up', up.sink).write(Buffer.alloc(50_000));
    clock.advanceSync(1000);
    expect(down.lastAt()).toBeCloseTo(55, 3);
    expect(up.lastAt()).toBeCloseTo(55, 3);
  });

  it('shares a link between its flows', () => {
    const clock = new ManualClock();
    const link = new Link({ bandwidthBps: mbit(8), latencyMs: 0 }, { clock });
    const a = recorder(clock);
    const b = recorder(clock);
    link.openFlow('down', a.sink).write(Buffer.alloc(1_000_000));
    link.openFlow('down', b.sink).write(Buffer.alloc(1_000_000));
    clock.advanceSync(500);
    expect(a.received() + b.received()).toBeGreaterThan(480_000);
    expect(Math.abs(a.received() - b.received())).toBeLessThanOrEqual(16 * 1024);
  });

  it('never reorders data under jitter', () => {
    const clock = new ManualClock();
    const link = new Link({ bandwidthBps: mbit(80), latencyMs: 10, jitterMs: 30 }, { clock });
    const rx = recorder(clock);
    const flow = link.openFlow('down', rx.sink);
    for (let i = 0; i < 50; i++) flow.write(Buffer.alloc(4096, i));
    clock.advanceSync(1000);
    expect(rx.received()).toBe(50 * 4096);
    const times = rx.arrivals.map((a) => a.at);
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(times[0]).toBeGreaterThanOrEqual(10);
  });

  it('hands quanta due together to the receiver as one chunk when they are adjacent bytes, never merging separate writes', () => {
    const clock = new ManualClock();
    const link = new Link({ bandwidthBps: 1e12, latencyMs: 5 }, { clock });
    const rx = recorder(clock);
    const flow = link.openFlow('down', rx.sink);
    const read = Buffer.alloc(256 * 1024, 1); // one large write: four 64 KiB quanta on this fast link
    const other = Buffer.alloc(80 * 1024, 2);
    flow.write(read);
    flow.write(other);
    // Sent at once, then held: the six quanta all fall due at the end of the stall, as late timers make them do.
    clock.advanceSync(1);
    flow.stall(50);
    clock.advanceSync(100);
    expect(rx.received()).toBe(336 * 1024);
    // The four quanta of the first write arrive as one 256 KiB chunk; the second write's two quanta as one more.
    expect(rx.arrivals.map((a) => a.bytes)).toEqual([256 * 1024, 80 * 1024]);
  });

  it('sends 16 KiB quanta on slow links, 64 KiB on fast ones', () => {
    for (const [bps, quantum] of [[mbit(2), 16 * 1024], [mbit(8), 16 * 1024], [mbit(20), 40_000], [mbit(100), 64 * 1024], [mbit(10_000), 64 * 1024]] as const) {
      const clock = new ManualClock();
      const rx = recorder(clock);
      const flow = new Link({ bandwidthBps: bps, latencyMs: 0 }, { clock }).openFlow('down', rx.sink);
      flow.write(Buffer.alloc(1_000_000));
      clock.advanceSync(10_000);
      expect(rx.arrivals[0]!.bytes).toBe(quantum);
    }
  });

  it('rejects a bad link spec with INVALID_ARGUMENT', () => {
    const bad: LinkSpec[] = [
      { bandwidthBps: 0, latencyMs: 1 },
      { bandwidthBps: 1, latencyMs: -1 },
      { bandwidthBps: 1, latencyMs: 1, faults: { resetRate: 2 } },
    ];
    for (const spec of bad) {
      let caught: unknown;
      try {
        new Link(spec, { clock: new ManualClock() });
      } catch (err) {
        caught = err;
      }
      expect(isPullbenchError(caught, 'INVALID_ARGUMENT')).toBe(true);
    }
  });
});

describe('a shared uplink', () => {
  it('gives two busy links about half each', () => {
    const clock = new ManualClock();
    const uplink = new SharedUplink(mbit(8));
    const l1 = new Link({ bandwidthBps: mbit(8), latencyMs: 1 }, { clock, uplink });
    const l2 = new Link({ bandwidthBps: mbit(8), latencyMs: 1 }, { clock, uplink });
    const a = recorder(clock);
    const b = recorder(clock);
    l1.openFlow('down', a.sink).write(Buffer.alloc(2_000_000));
    l2.openFlow('down', b.sink).write(Buffer.alloc(2_000_000));
    clock.advanceSync(1001);
    expect(a.received() + b.received()).toBeGreaterThan(0.97 * 1_000_000);
    expect(a.received() / b.received()).toBeGreaterThan(0.95);
    expect(a.received() / b.received()).toBeLessThan(1.05);
  });

  it('leaves what a slower link cannot use to the others', () => {
    const clock = new ManualClock();
    const uplink = new SharedUplink(mbit(8));
    const slow = new Link({ bandwidthBps: mbit(2), latencyMs: 0 }, { clock, uplink });
    const fast = new Link({ bandwidthBps: mbit(8), latencyMs: 0 }, { clock, uplink });
    const s = recorder(clock);
    const f = recorder(clock);
    slow.openFlow('down', s.sink).write(Buffer.alloc(2_000_000));
    fast.openFlow('down', f.sink).write(Buffer.alloc(2_000_000));
    clock.advanceSync(1000);
    expect(s.received() / 1000).toBeCloseTo(250, -1); // 2 Mbit/s = 250 bytes/ms
    expect(f.received() / 1000).toBeGreaterThan(700); // the rest of 1000 bytes/ms
  });

  it('gives a lone link the whole uplink when the others are idle', () => {
    const clock = new ManualClock();
    const uplink = new SharedUplink(mbit(8));
    const l1 = new Link({ bandwidthBps: mbit(100), latencyMs: 0 }, { clock, uplink });
    new Link({ bandwidthBps: mbit(100), latencyMs: 0 }, { clock, uplink });
    const a = recorder(clock);
    l1.openFlow('down', a.sink).write(Buffer.alloc(500_000));
    clock.advanceSync(1000);
    expect(a.lastAt()).toBeCloseTo(500, 0);
  });

  it('shares fairly among hundreds of links, cheaply', () => {
    const clock = new ManualClock();
    const uplink = new SharedUplink(mbit(300)); // 37.5 bytes/ms per link when 1000 share it
    const payload = Buffer.alloc(400_000); // one buffer: flows keep slices, never copies
    const rx = Array.from({ length: 1000 }, () => {
      const r = recorder(clock);
      new Link({ bandwidthBps: mbit(100), latencyMs: 5 }, { clock, uplink }).openFlow('down', r.sink).write(payload);
      return r;
    });
    const t0 = performance.now();
    clock.advanceSync(8000);
    const wallMs = performance.now() - t0;
    const got = rx.map((r) => r.received());
    const total = got.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(0.97 * 37_500 * 7995);
    // Round robin, a quantum at a time (64 KiB on 100 Mbit/s links): every link within one quantum of the others (~300 kB each).
    expect(Math.max(...got) - Math.min(...got)).toBeLessThanOrEqual(64 * 1024);
    // About 1 s here on an idle core; an accidental O(links²) pass would take minutes.
    expect(wallMs).toBeLessThan(8000);
  });

  it('does not shape the upstream direction', () => {
    const clock = new ManualClock();
    const uplink = new SharedUplink(mbit(1));
    const link = new Link({ bandwidthBps: mbit(8), latencyMs: 0 }, { clock, uplink });
    const up = recorder(clock);
    link.openFlow('up', up.sink).write(Buffer.alloc(100_000));
    clock.advanceSync(1000);
    expect(up.lastAt()).toBeCloseTo(100, 3);
  });
});
