import { describe, expect, it } from 'vitest';
import { changePoints } from '../../src/compare/change-points.js';
import { analyseHistory, renderHistory } from '../../src/compare/index.js';
import type { RunResults } from '../../src/results/index.js';
import { readFileSync } from 'node:fs';

// A noisy but stationary series: a deterministic wobble of +-4%.
const wobble = (n: number, level: number): number[] => Array.from({ length: n }, (_, i) => level * (1 + 0.04 * Math.sin(i * 2.3)));

describe('changePoints (E-Divisive means)', () => {
  it('finds the night a level shifted', () => {
    const series = [...wobble(12, 100), ...wobble(10, 150)];
    expect(changePoints(series).map((c) => c.index)).toEqual([12]);
  });

  it('finds none in a stationary series', () => {
    expect(changePoints(wobble(25, 100))).toEqual([]);
  });

  it('does not take one odd night for a change', () => {
    const series = wobble(20, 100);
    series[9] = 300;
    expect(changePoints(series)).toEqual([]);
    const last = wobble(20, 100);
    last[19] = 300;
    expect(changePoints(last)).toEqual([]);
  });

  it('finds two shifts and gives the same answer for the same seed', () => {
    const series = [...wobble(8, 100), ...wobble(8, 160), ...wobble(8, 230)];
    const found = changePoints(series);
    expect(found.map((c) => c.index)).toEqual([8, 16]);
    expect(changePoints(series)).toEqual(found);
  });
});

const fixture = JSON.parse(readFileSync(new URL('./fixtures/quickstart-small.results.json', import.meta.url), 'utf8')) as RunResults;

function night(i: number, factor: number, otherCores = 0.05): { file: string; results: RunResults } {
  const r = structuredClone(fixture);
  r.startedAt = new Date(Date.UTC(2026, 10, 1 + i, 3)).toISOString();
  r.environment.conditions = { loadAverage: { before: [0, 0, 0], after: [0, 0, 0] }, cpu: { otherCores, stealShare: 0, idleShare: 0.9 }, eventLoopDelay: { meanMs: 1, p99Ms: 5, maxMs: 9 }, wallMs: 30_000 };
  const f = factor * (1 + 0.03 * Math.sin(i * 1.7));
  for (const a of r.arms) for (const rep of a.repetitions) for (const p of rep.pods) if (p.pullMs !== undefined) p.pullMs *= f;
  return { file: `nightly/${i}/results.json`, results: r };
}

describe('analyseHistory', () => {
  it('reports the night pulls got slower as a regression of the newest level', () => {
    const runs = Array.from({ length: 14 }, (_, i) => night(i, i < 9 ? 1 : 1.5));
    const h = analyseHistory(runs.reverse());
    expect(h.verdict).toBe('regressed');
    const p50 = h.series.find((s) => s.arm === 'IfNotPresent/mirror/cold' && s.metric === 'pullP50')!;
    expect(p50.changes).toHaveLength(1);
    expect(p50.changes[0]).toMatchObject({ index: 9, file: 'nightly/9/results.json', verdict: 'regressed' });
    expect(renderHistory(h)).toMatch(/^REGRESSED: IfNotPresent\/mirror\/cold pull p50 .* from run 10 /m);
  });

  it('leaves a night on a busy runner out of the timing series instead of paging on it', () => {
    const runs = Array.from({ length: 14 }, (_, i) => (i === 13 || i === 12 ? night(i, 1.8, 1.1) : night(i, 1)));
    const h = analyseHistory(runs);
    expect(h.verdict).toBe('unchanged');
    expect(h.runs.filter((r) => r.busy).map((r) => r.file)).toEqual(['nightly/12/results.json', 'nightly/13/results.json']);
    expect(renderHistory(h)).toContain('machine busier than usual: nightly/12/results.json, nightly/13/results.json');
  });

  it('ignores a shift smaller than the metric tolerance', () => {
    const runs = Array.from({ length: 14 }, (_, i) => night(i, i < 7 ? 1 : 1.1));
    expect(analyseHistory(runs).verdict).toBe('unchanged');
  });
});
