import { describe, expect, it } from 'vitest';
import { describeEvent, progressRenderer } from '../../src/cli/progress.js';
import type { RunEvent } from '../../src/core/progress.js';

function render(interactive: boolean, events: [number, RunEvent][]): string[] {
  const lines: string[] = [];
  let t = 0;
  const show = progressRenderer((l) => lines.push(l), { interactive, now: () => t });
  for (const [at, e] of events) {
    t = at;
    show(e);
  }
  return lines;
}

const step = (ready: number, linkBytes = ready * 1_000_000): RunEvent => ({ type: 'step', step: 'app', ready, total: 10, linkBytes });

describe('progress of a run', () => {
  it('says what each event is in one line', () => {
    expect(describeEvent({ type: 'arm', arm: 'IfNotPresent/direct/cold', repetition: 2, repetitions: 3 })).toBe('arm IfNotPresent/direct/cold (2/3)');
    expect(describeEvent(step(4))).toBe('  app: 4/10 ready, 4.0 MB over the links');
    expect(describeEvent({ type: 'step', step: 'ds', ready: 5, total: 5, virtualSeconds: 12.34 })).toBe('  ds: 5/5 ready at 12.3 s virtual');
    expect(describeEvent({ type: 'verified', images: [{ image: 'demo/app:v1', decision: 'allow' }] })).toBe('verify: demo/app:v1 allow');
  });

  it('on a terminal, draws a line when readiness changes and at most every 2 s while it does not', () => {
    const lines = render(true, [[0, step(1)], [100, step(2)], [200, step(2)], [2300, step(2)], [2400, step(10)]]);
    expect(lines).toEqual([describeEvent(step(1)), describeEvent(step(2)), describeEvent(step(2)), describeEvent(step(10))]);
  });

  it('in a log, prints a plain line every few seconds and the end of each step, whatever changes between', () => {
    const lines = render(false, [[0, step(1)], [1000, step(2)], [4000, step(3)], [5100, step(4)], [5200, step(5)], [5300, step(10)], [5400, step(10)]]);
    expect(lines).toEqual([describeEvent(step(1)), describeEvent(step(4)), describeEvent(step(10))]);
  });

  it('shows every other event as it comes', () => {
    const arm: RunEvent = { type: 'arm', arm: 'a', repetition: 1, repetitions: 1 };
    expect(render(false, [[0, arm], [1, arm]])).toEqual(['arm a (1/1)', 'arm a (1/1)']);
  });
});
