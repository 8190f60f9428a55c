import { describe, expect, it } from 'vitest';
import { maxMinRates } from '../../src/model/max-min.js';

describe('maxMinRates', () => {
  it('splits one link equally between its flows', () => {
    expect(maxMinRates([90], [{ links: [0], weight: 3, cap: Infinity }])).toEqual([30]);
  });

  it('gives a capped flow its cap and the rest of the link to the others', () => {
    // Link 100; A capped at 10, B (2 flows) unbounded: A 10, B (100-10)/2 = 45 each.
    expect(maxMinRates([100], [
      { links: [0], weight: 1, cap: 10 },
      { links: [0], weight: 2, cap: Infinity },
    ])).toEqual([10, 45]);
  });

  it('solves the textbook two-link line network', () => {
    // Links L0=10, L1=20. Flow A over L0+L1, B over L0, C over L1.
    // L0 fills first at level 5 (A, B); C then takes L1's rest: 20-5 = 15.
    const rates = maxMinRates([10, 20], [
      { links: [0, 1], weight: 1, cap: Infinity },
      { links: [0], weight: 1, cap: Infinity },
      { links: [1], weight: 1, cap: Infinity },
    ]);
    expect(rates).toEqual([5, 5, 15]);
  });

  it('lets node links bound flows below a shared uplink', () => {
    // Uplink 1000 shared by 100 node flows capped at 4 (node links) and 10 flows capped at 100:
    // level 4 freezes the 100 (400 used), the 10 share 600 -> 60 each, below their cap.
    const rates = maxMinRates([1000], [
      { links: [0], weight: 100, cap: 4 },
      { links: [0], weight: 10, cap: 100 },
    ]);
    expect(rates[0]).toBeCloseTo(4, 9);
    expect(rates[1]).toBeCloseTo(60, 9);
  });

  it('stops at the tighter of two links in a chain (uplink then registry egress)', () => {
    // Registry egress 50 below an uplink of 80, 5 flows: 10 each; mirror class on the uplink only takes 80-50 = 30.
    const rates = maxMinRates([80, 50], [
      { links: [0, 1], weight: 5, cap: Infinity },
      { links: [0], weight: 1, cap: Infinity },
    ]);
    expect(rates[0]).toBeCloseTo(10, 9);
    expect(rates[1]).toBeCloseTo(30, 9);
  });

  it('gives unlimited flows an infinite rate and no flows no rates', () => {
    expect(maxMinRates([], [{ links: [], weight: 1, cap: Infinity }])).toEqual([Infinity]);
    expect(maxMinRates([10], [])).toEqual([]);
  });

  it('never allocates more than a link carries', () => {
    const caps = [100, 70, 40];
    const classes = [
      { links: [0, 1], weight: 3, cap: 50 },
      { links: [1, 2], weight: 2, cap: Infinity },
      { links: [0], weight: 4, cap: 7 },
      { links: [2], weight: 1, cap: 5 },
    ];
    const rates = maxMinRates(caps, classes);
    caps.forEach((cap, l) => {
      const used = classes.reduce((sum, c, i) => sum + (c.links.includes(l) ? c.weight * rates[i]! : 0), 0);
      expect(used).toBeLessThanOrEqual(cap + 1e-9);
    });
    // L1 (70) binds the first two classes at 14 each: 3*14 + 2*14 = 70.
    expect(rates[0]).toBeCloseTo(14, 9);
    expect(rates[1]).toBeCloseTo(14, 9);
    expect(rates[2]).toBeCloseTo(7, 9);
    expect(rates[3]).toBeCloseTo(5, 9);
  });
});
