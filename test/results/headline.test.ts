import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { headlineOf, headlineText } from '../../src/results/index.js';
import { renderSummary } from '../../src/report/render.js';
import type { ArmResult, RunResults } from '../../src/results/index.js';
import { formatMs } from '../../src/util/units.js';

// A real (scaled-down) quickstart run: 4 arms x 2 repetitions on 3 emulated nodes.
const fixture = JSON.parse(readFileSync(new URL('../compare/fixtures/quickstart-small.results.json', import.meta.url), 'utf8')) as RunResults;
const arm = (r: RunResults, name: string): ArmResult => r.arms.find((a) => a.arm.name === name)!;
const tierOf = (r: RunResults, name: string): number => headlineOf(r).tiers.findIndex((t) => t.arms.some((a) => a.name === name));
const scalePulls = (a: ArmResult, f: number): void => {
  for (const rep of a.repetitions) for (const p of rep.pods) if (p.pullMs !== undefined) p.pullMs *= f;
  if (a.aggregate.pull) a.aggregate.pull.p50 *= f;
};

describe('the headline', () => {
  it('puts arms that did identical work in one tier, and says why', () => {
    const h = headlineOf(fixture);
    expect(h.identicalWork).toContainEqual(['Always/direct/cold', 'IfNotPresent/direct/cold']);
    expect(tierOf(fixture, 'Always/direct/cold')).toBe(tierOf(fixture, 'IfNotPresent/direct/cold'));
    expect(headlineText(h, formatMs)).toContain('identical work');
  });

  it('keeps them together even when one of them measured 3x slower', () => {
    const r = structuredClone(fixture);
    scalePulls(arm(r, 'IfNotPresent/direct/cold'), 3);
    expect(tierOf(r, 'IfNotPresent/direct/cold')).toBe(tierOf(r, 'Always/direct/cold'));
  });

  it('ranks an arm that is slower beyond the spread of the repetitions', () => {
    const r = structuredClone(fixture);
    scalePulls(arm(r, 'Always/mirror/cold'), 4);
    scalePulls(arm(r, 'IfNotPresent/mirror/cold'), 4);
    const h = headlineOf(r);
    expect(h.tiers.length).toBeGreaterThanOrEqual(2);
    expect(tierOf(r, 'Always/mirror/cold')).toBeGreaterThan(tierOf(r, 'Always/direct/cold'));
    expect(headlineText(h, formatMs)).toMatch(/fastest/);
  });

  it('calls arms a tie when their samples do not differ, whatever their work', () => {
    const r = structuredClone(fixture);
    const direct = arm(r, 'Always/direct/cold');
    for (const name of ['Always/mirror/cold', 'IfNotPresent/mirror/cold']) {
      arm(r, name).repetitions.forEach((rep, i) => rep.pods.forEach((p, j) => {
        const pullMs = direct.repetitions[i]!.pods[j]?.pullMs;
        if (pullMs !== undefined) p.pullMs = pullMs;
      }));
    }
    const h = headlineOf(r);
    expect(h.tiers).toHaveLength(1);
    expect(headlineText(h, formatMs)).toMatch(/^The arms tie/);
    expect(renderSummary(r)).toContain('The arms tie');
  });

  it('ranks on rollout time when an arm pulled nothing', () => {
    const r = structuredClone(fixture);
    const warm = arm(r, 'IfNotPresent/mirror/cold');
    for (const rep of warm.repetitions) for (const p of rep.pods) delete p.pullMs;
    delete warm.aggregate.pull;
    expect(headlineOf(r).metric).toBe('rollout');
    expect(headlineOf(r).tiers.flatMap((t) => t.arms.map((a) => a.name))).toContain('IfNotPresent/mirror/cold');
  });
});
