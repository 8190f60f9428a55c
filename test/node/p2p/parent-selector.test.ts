import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { ParentSelector, type HostTx } from '../../../src/node/p2p/parent-selector.js';

const MAX = 125e6;

// Node 0 uploads at its link's capacity, node 1 sends nothing.
const hosts: HostTx[] = [{ tx: MAX, max: MAX }, { tx: 0, max: MAX }];

function selector(clock: ManualClock, draw: number): ParentSelector {
  return new ParentSelector(clock, (n) => hosts[n]!, () => draw);
}

describe("a dfdaemon's choice of parent for a piece", () => {
  it('weighs each parent by its idle upload, a busy one at a tenth of its capacity', async () => {
    const clock = new ManualClock();
    const draws = [0.05, 0.1, 0.5, 0.95].map((d) => {
      const s = selector(clock, d);
      s.register([0, 1]);
      return s;
    });
    await clock.advance(1000);
    // Weights 1/10 and 1 of the capacity: the saturated parent is drawn for the first 1/11 of the draws only.
    expect(draws.map((s) => s.select([0, 1]))).toEqual([0, 1, 1, 1]);
  });

  it("treats parents alike until their hosts' first report, a second after they were registered", () => {
    const clock = new ManualClock();
    const [low, high] = [0.4, 0.6].map((d) => {
      const s = selector(clock, d);
      s.register([0, 1]);
      return s;
    });
    expect([low!.select([0, 1]), high!.select([0, 1])]).toEqual([0, 1]);
  });
});
