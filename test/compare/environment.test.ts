import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compareEnvironments, compareResults, renderComparisonTable, type Comparison } from '../../src/compare/index.js';
import type { RunConditions } from '../../src/measure/conditions.js';
import type { RunResults } from '../../src/results/index.js';

// A real (scaled-down) quickstart run: 4 arms x 2 repetitions on 3 emulated nodes.
const fixture = JSON.parse(readFileSync(new URL('./fixtures/quickstart-small.results.json', import.meta.url), 'utf8')) as RunResults;
const row = (c: Comparison, arm: string, metric: string) => c.metrics.find((m) => m.arm === arm && m.metric === metric)!;
const DIRECT = ['Always/direct/cold', 'IfNotPresent/direct/cold'];

function conditions(otherCores: number, loopP99 = 5): RunConditions {
  return { loadAverage: { before: [otherCores, 0, 0], after: [otherCores, 0, 0] }, cpu: { otherCores, stealShare: 0, idleShare: 0.5 }, eventLoopDelay: { meanMs: 1, p99Ms: loopP99, maxMs: loopP99 }, wallMs: 30_000 };
}

// The run on a machine `otherCores` busy, with the given arms' timings scaled.
function run(otherCores: number, factors: Record<string, number> = {}, loopP99 = 5): RunResults {
  const r = structuredClone(fixture);
  r.environment.conditions = conditions(otherCores, loopP99);
  for (const a of r.arms) {
    const f = factors[a.arm.name] ?? factors['*'] ?? 1;
    for (const rep of a.repetitions) {
      rep.rolloutDurationMs *= f;
      for (const p of rep.pods) {
        if (p.pullMs !== undefined) p.pullMs *= f;
        if (p.pullWithWaitingMs !== undefined) p.pullWithWaitingMs *= f;
      }
    }
  }
  return r;
}

describe('compareEnvironments', () => {
  it('calls machines alike when other work differs by less than half a core', () => {
    expect(compareEnvironments(run(0.1), run(0.4)).verdict).toBe('similar');
  });

  it('names the side where other processes took a core', () => {
    const e = compareEnvironments(run(0.05), run(1.02));
    expect(e.verdict).toBe('current busier');
    expect(e.reason).toContain('other work 1.02 of');
    expect(compareEnvironments(run(1.02), run(0.05)).verdict).toBe('baseline busier');
  });

  it('counts an event loop twice as late by 20 ms or more as busier when CPU figures agree', () => {
    expect(compareEnvironments(run(0.1, {}, 5), run(0.1, {}, 60)).verdict).toBe('current busier');
  });

  it('says unknown for results recorded before conditions were', () => {
    const old = structuredClone(fixture);
    delete old.environment.conditions;
    expect(compareEnvironments(old, run(1)).verdict).toBe('unknown');
  });
});

describe('compareResults on a busier machine', () => {
  it('calls a slowdown every arm shared inconclusive, not regressed, when the current run was busier', () => {
    const c = compareResults(run(0.05), run(1.0, { '*': 1.6 }), { resamples: 500 });
    expect(c.environment?.verdict).toBe('current busier');
    expect(c.counts.regressed).toBe(0);
    expect(c.verdict).toBe('inconclusive');
    expect(row(c, DIRECT[1]!, 'pullP50').verdict).toBe('inconclusive');
    expect(row(c, DIRECT[1]!, 'pullP50').reason).toContain('busier machine');
    expect(renderComparisonTable(c)).toMatch(/^environment: the current run ran on a busier machine/m);
  });

  it('still calls a regression of some arms beyond what every arm shared', () => {
    const c = compareResults(run(0.05), run(1.0, { '*': 1.15, [DIRECT[0]!]: 1.15 * 1.6, [DIRECT[1]!]: 1.15 * 1.6 }), { resamples: 500 });
    expect(c.verdict).toBe('regressed');
    expect(c.environment?.machineFactor?.pullP50).toBeCloseTo(1.15, 2);
    // The fixture's Always/direct arm is too noisy over its 3 nodes for a verdict either way.
    expect(row(c, DIRECT[1]!, 'pullP50').verdict).toBe('regressed');
    expect(row(c, DIRECT[1]!, 'pullP50').reason).toContain('beyond the shared x1.15');
    expect(row(c, 'IfNotPresent/mirror/cold', 'pullP50').verdict).toBe('unchanged');
  });

  it('calls the same shared slowdown regressed when both machines were alike: the environment is no excuse then', () => {
    const c = compareResults(run(0.05), run(0.1, { '*': 1.6 }), { resamples: 500 });
    expect(c.environment?.verdict).toBe('similar');
    expect(c.verdict).toBe('regressed');
  });

  it('calls a shared speed-up inconclusive when the baseline was the busier one', () => {
    const c = compareResults(run(1.0, { '*': 1.6 }), run(0.05), { resamples: 500 });
    expect(c.environment?.verdict).toBe('baseline busier');
    expect(c.counts.improved).toBe(0);
    expect(c.verdict).toBe('inconclusive');
  });

  it('calls timing changes inconclusive when other work took half of both machines', () => {
    const c = compareResults(run(1.2), run(1.3, { [DIRECT[1]!]: 1.8 }), { resamples: 500 });
    expect(c.environment?.verdict).toBe('both busy');
    expect(row(c, DIRECT[1]!, 'pullP50')).toMatchObject({ verdict: 'inconclusive' });
    expect(c.verdict).toBe('inconclusive');
    // Beyond what starvation did to A/A runs, a change still stands.
    const far = compareResults(run(1.2), run(1.3, { [DIRECT[1]!]: 5 }), { resamples: 500 });
    expect(row(far, DIRECT[1]!, 'pullP50').verdict).toBe('regressed');
  });

  it('calls an arm inconclusive when the harness event loop ran late during that arm only', () => {
    const delay = (r: RunResults, ms: number): RunResults => {
      const usage = (x: number) => ({ eventLoop: { utilization: 0.5, delayP50Ms: x / 2, delayP99Ms: x, delayMaxMs: x } }) as NonNullable<RunResults['arms'][number]['repetitions'][number]['usage']>;
      for (const rep of r.arms.find((a) => a.arm.name === DIRECT[1])!.repetitions) rep.usage = usage(ms);
      return r;
    };
    const cur = delay(run(0.1, { [DIRECT[1]!]: 1.8 }), 400);
    const base = delay(run(0.1), 20);
    const c = compareResults(base, cur, { resamples: 500 });
    expect(c.environment?.verdict).toBe('similar');
    expect(row(c, DIRECT[1]!, 'pullP50').verdict).toBe('inconclusive');
    expect(row(c, DIRECT[1]!, 'pullP50').reason).toContain('event loop ran late during this arm (delay p99 400ms vs 20ms)');
    expect(c.counts.regressed).toBe(0);
  });

  it('never moves byte and request counts', () => {
    const c = compareResults(run(0.05), run(1.0, { '*': 1.6 }), { resamples: 500 });
    expect(row(c, DIRECT[0]!, 'registryBytes')).toMatchObject({ verdict: 'unchanged' });
    expect(c.environment?.machineFactor).not.toHaveProperty('registryBytes');
  });
});
