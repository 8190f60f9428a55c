import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { FlowNetwork } from '../../src/model/flow-network.js';
import { runInVirtualTime } from '../../src/model/virtual-time.js';

// Capacities and rates in bytes per ms; times are virtual ms from 0.
async function finishTimes(capacities: number[], routes: { endpointBytesPerMs: number; shared: number[] }[], flows: { endpoint: number; route: number; bytes: number; at?: number }[]): Promise<number[]> {
  const clock = new ManualClock(0);
  const net = new FlowNetwork(clock, capacities, routes.map((r, i) => ({ name: `r${i}`, ...r })));
  return runInVirtualTime(clock, () =>
    Promise.all(flows.map(async (f) => {
      if (f.at) await clock.sleep(f.at);
      await net.transfer(f.endpoint, f.route, f.bytes);
      return clock.now();
    })),
  );
}

describe('FlowNetwork', () => {
  it('moves one flow at its node link rate', async () => {
    expect(await finishTimes([1e9], [{ endpointBytesPerMs: 10, shared: [0] }], [{ endpoint: 1, route: 0, bytes: 1000 }])).toEqual([100]);
  });

  it('shares a node link between its flows, and gives the rest to the survivor when one ends', async () => {
    // 10 B/ms for two flows: 5 each; the 200 B flow ends at 40 ms, the 600 B one has 400 left alone at 10: 80 ms.
    const t = await finishTimes([1e9], [{ endpointBytesPerMs: 10, shared: [0] }], [
      { endpoint: 1, route: 0, bytes: 200 },
      { endpoint: 1, route: 0, bytes: 600 },
    ]);
    expect(t[0]).toBeCloseTo(40, 6);
    expect(t[1]).toBeCloseTo(80, 6);
  });

  it('shares an uplink between nodes, each node still bound by its own link', async () => {
    // Uplink 12 B/ms; node 1 has one flow, node 2 two; node links 100 B/ms: 4 B/ms per flow while all three run.
    // 400 B each: all end at 100 ms.
    const t = await finishTimes([12], [{ endpointBytesPerMs: 100, shared: [0] }], [
      { endpoint: 1, route: 0, bytes: 400 },
      { endpoint: 2, route: 0, bytes: 400 },
      { endpoint: 2, route: 0, bytes: 400 },
    ]);
    t.forEach((x) => expect(x).toBeCloseTo(100, 6));
  });

  it('speeds a flow up when another starts elsewhere and ends', async () => {
    // Egress 10 B/ms. A (1000 B) alone 0-20 ms: 200 B; B (100 B) joins at 20: 5 each, B ends at 40; A has 700 left at 10: 110 ms.
    const t = await finishTimes([10], [{ endpointBytesPerMs: Infinity, shared: [0] }], [
      { endpoint: 1, route: 0, bytes: 1000 },
      { endpoint: 2, route: 0, bytes: 100, at: 20 },
    ]);
    expect(t[1]).toBeCloseTo(40, 6);
    expect(t[0]).toBeCloseTo(110, 6);
  });

  it('counts the bytes of each route', async () => {
    const clock = new ManualClock(0);
    const net = new FlowNetwork(clock, [100], [{ name: 'registry', endpointBytesPerMs: 10, shared: [0] }, { name: 'mirror', endpointBytesPerMs: 10, shared: [0] }]);
    await runInVirtualTime(clock, () => Promise.all([net.transfer(1, 0, 50), net.transfer(1, 1, 70), net.transfer(2, 1, 0)]));
    expect(net.carried()).toEqual({ registry: 50, mirror: 70 });
  });
});

describe('runInVirtualTime', () => {
  it('says the work stalled when it waits on something that is not the clock', async () => {
    const clock = new ManualClock(0);
    await expect(runInVirtualTime(clock, () => new Promise<void>(() => undefined))).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});
