import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bootstrapDifference, compareResults, parseTolerances, renderComparisonJunit, renderComparisonMarkdown, renderComparisonTable, type Comparison } from '../../src/compare/index.js';
import type { RunResults } from '../../src/results/index.js';

// A real (scaled-down) quickstart run: 4 arms x 2 repetitions on 3 emulated nodes.
const fixture = JSON.parse(readFileSync(new URL('./fixtures/quickstart-small.results.json', import.meta.url), 'utf8')) as RunResults;
const copy = (): RunResults => structuredClone(fixture);
const row = (c: Comparison, arm: string, metric: string) => c.metrics.find((m) => m.arm === arm && m.metric === metric)!;
const ARM = 'IfNotPresent/mirror/cold';

function slower(r: RunResults, arm: string, factor: number): RunResults {
  for (const a of r.arms.filter((x) => x.arm.name === arm)) {
    for (const rep of a.repetitions) {
      rep.rolloutDurationMs *= factor;
      for (const p of rep.pods) {
        if (p.pullMs !== undefined) p.pullMs *= factor;
        if (p.pullWithWaitingMs !== undefined) p.pullWithWaitingMs *= factor;
      }
    }
  }
  return r;
}

// What a run with `scale: { bytes }` records: the factor in the results and in the scenario spec.
function scaleBytes(r: RunResults, bytes: number): RunResults {
  r.scale = { bytes, byteCounts: 'measured' };
  (r.scenario.spec as { scale?: { bytes: number } }).scale = { bytes };
  return r;
}

describe('bootstrapDifference', () => {
  const median = (s: readonly number[]): number => (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2);

  it('is deterministic for a seed', () => {
    const a = [5, 7, 9, 11, 30];
    const b = [6, 8, 12, 13, 40];
    expect(bootstrapDifference([[a]], [[b]], median, { seed: 42 })).toEqual(bootstrapDifference([[a]], [[b]], median, { seed: 42 }));
  });

  it('gives an interval that excludes 0 for clearly shifted samples and includes it for the same samples', () => {
    const a = Array.from({ length: 30 }, (_, i) => 100 + (i % 7));
    const shifted = bootstrapDifference([[a]], [[a.map((x) => x + 50)]], median, { seed: 1 });
    expect(shifted.delta).toBe(50);
    expect(shifted.low).toBeGreaterThan(0);
    const same = bootstrapDifference([[a]], [[a]], median, { seed: 1 });
    expect(same.low).toBeLessThanOrEqual(0);
    expect(same.high).toBeGreaterThanOrEqual(0);
  });
});

describe('compareResults', () => {
  it('judges a run against itself unchanged on every arm and metric', () => {
    const c = compareResults(fixture, copy(), { resamples: 500 });
    expect(c.verdict).toBe('unchanged');
    expect(c.metrics).toHaveLength(4 * 9);
    expect(c.counts.unchanged).toBe(36);
    expect(c.specChanges).toEqual([]);
  });

  it('flags pull times 1.6x slower on one arm as regressed, that arm only', () => {
    const c = compareResults(fixture, slower(copy(), ARM, 1.6), { resamples: 500 });
    expect(c.verdict).toBe('regressed');
    expect(row(c, ARM, 'pullP50')).toMatchObject({ verdict: 'regressed' });
    expect(row(c, ARM, 'pullP50').ci!.low).toBeGreaterThan(0);
    expect(c.metrics.filter((m) => m.verdict === 'regressed').every((m) => m.arm === ARM)).toBe(true);
  });

  it('calls faster pulls improved', () => {
    const c = compareResults(fixture, slower(copy(), ARM, 0.5), { resamples: 500 });
    expect(c.verdict).toBe('improved');
    expect(row(c, ARM, 'pullP50').verdict).toBe('improved');
  });

  it('keeps a change within the tolerance unchanged, and a raised tolerance absorbs a regression', () => {
    expect(row(compareResults(fixture, slower(copy(), ARM, 1.05), { resamples: 500 }), ARM, 'pullP50').verdict).toBe('unchanged');
    const c = compareResults(fixture, slower(copy(), ARM, 1.6), { resamples: 500, tolerances: parseTolerances(['*=100']) });
    expect(c.verdict).toBe('unchanged');
  });

  it('does not call a +20% median real (tolerance 10%) when the spread of the pulls is wider than the move (noise)', () => {
    const spread = (r: RunResults, shift: number): RunResults => {
      const pulled = r.arms.find((a) => a.arm.name === ARM)!.repetitions.flatMap((rep) => rep.pods).filter((p) => p.pullMs !== undefined);
      // 14 pulls spread evenly over 100 ms .. 1.4 s, one stratum.
      pulled.forEach((p, i) => Object.assign(p, { rollout: 'app', pullMs: 100 * (i + 1) + shift, pullWithWaitingMs: 100 * (i + 1) + shift }));
      return r;
    };
    // Tolerance 10%: only the noise estimate can keep the +20% from being called a regression.
    const m = row(compareResults(spread(copy(), 0), spread(copy(), 150), { resamples: 1000, tolerances: { pullP50: 10 } }), ARM, 'pullP50');
    expect(m.relative).toBeCloseTo(0.2, 5);
    expect(m.ci!.low).toBeLessThan(0);
    expect(m.verdict).toBe('unchanged');
    expect(m.reason).toMatch(/includes 0 \(noise\)/);
  });

  it('catches more bytes from the registry and more upstream pulls, which do not vary between repetitions', () => {
    const cur = copy();
    for (const rep of cur.arms.find((a) => a.arm.name === ARM)!.repetitions) {
      rep.registry.bytesServed *= 10;
      rep.registry.manifestGet *= 10;
    }
    const c = compareResults(fixture, cur, { resamples: 500 });
    expect(row(c, ARM, 'registryBytes').verdict).toBe('regressed');
    expect(row(c, ARM, 'upstreamPulls').verdict).toBe('regressed');
  });

  it('does not judge rollout duration from one repetition a side', () => {
    const one = (r: RunResults): RunResults => ({ ...r, arms: r.arms.map((a) => ({ ...a, repetitions: a.repetitions.slice(0, 1) })) });
    const m = row(compareResults(one(fixture), one(slower(copy(), ARM, 3)), { resamples: 200 }), ARM, 'rolloutDuration');
    expect(m.verdict).toBe('unchanged');
    expect(m.reason).toMatch(/one sample a side/);
  });

  it('marks an arm present in one run only as not comparable, without failing the whole comparison', () => {
    const cur = copy();
    cur.arms = cur.arms.filter((a) => a.arm.name !== ARM);
    const c = compareResults(fixture, cur, { resamples: 200 });
    expect(c.verdict).toBe('unchanged');
    expect(c.reasons).toEqual([]);
    expect(row(c, ARM, 'pullP50')).toMatchObject({ verdict: 'not comparable', reason: 'arm only in the baseline' });
  });

  it.each([
    ['a different scenario', (r: RunResults) => void (r.scenario.name = 'other'), /different scenarios: "quickstart" vs "other"/],
    ['a different CPU count', (r: RunResults) => void (r.environment.cpus = 64), /different CPU count: \d+ vs 64/],
    ['another Node major', (r: RunResults) => void (r.environment.node = '99.0.0'), /Node.js major version/],
    ['another node runtime', (r: RunResults) => void (r.environment.cluster.runtime = 'containerd'), /different node runtime: embedded vs containerd/],
    ['another results schema', (r: RunResults) => void ((r as { schemaVersion: number }).schemaVersion = 2), /schemaVersion differs: 1 vs 2/],
    ['a byte-scaled run against an unscaled one', (r: RunResults) => scaleBytes(r, 0.1), /different byte scales \(scale\.bytes\): 1 \(unscaled\) vs 0\.1/],
  ])('refuses %s as not comparable, saying why', (_, change, reason) => {
    const cur = copy();
    change(cur);
    const c = compareResults(fixture, cur, { resamples: 200 });
    expect(c.verdict).toBe('not comparable');
    expect(c.metrics).toEqual([]);
    expect(c.reasons.join('\n')).toMatch(reason);
  });

  it('compares two runs at the same byte scale, without listing scale as a scenario change', () => {
    const c = compareResults(scaleBytes(copy(), 0.1), scaleBytes(copy(), 0.1), { resamples: 200 });
    expect(c.reasons).toEqual([]);
    expect(c.specChanges).toEqual([]);
  });

  it('lists scenario fields that changed between comparable runs', () => {
    const cur = copy();
    (cur.scenario.spec as { links: { registry: { bandwidth: number } } }).links.registry.bandwidth = 12_500_000;
    expect(compareResults(fixture, cur, { resamples: 200 }).specChanges).toEqual(['links.registry.bandwidth: 400000000 -> 12500000']);
  });
});

describe('parseTolerances', () => {
  it('reads metric=percent, aliases and later-wins', () => {
    expect(parseTolerances(['pull=20%', 'pullP95=30', 'failureRate=0'])).toEqual({ pullP50: 20, pullP95: 30, failureRate: 0 });
  });

  it('reports every bad entry at once', () => {
    expect(() => parseTolerances(['nope=1', 'pull=fast'])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { problems: [expect.stringContaining('nope'), expect.stringContaining('pull=fast')] } }));
  });
});

describe('renderers', () => {
  const regressed = compareResults(fixture, slower(copy(), ARM, 1.6), { resamples: 300, files: { baseline: 'base.json', current: 'cur.json' } });

  it('table: verdict first, one row per arm and metric, the regressions spelled out', () => {
    const text = renderComparisonTable(regressed);
    expect(text.split('\n')[0]).toMatch(/^REGRESSED: \d+ regressed/);
    expect(text).toContain(`REGRESSED: ${ARM} pull p50: +60.0%`);
    expect(text.split('\n').filter((l) => l.startsWith('Always/direct/cold '))).toHaveLength(9);
  });

  it('JUnit: one testcase per arm and metric, a failure per regression', () => {
    const xml = renderComparisonJunit(regressed);
    expect(xml.match(/<testcase /g)).toHaveLength(36);
    expect(xml.match(/<failure /g)).toHaveLength(regressed.counts.regressed);
    expect(xml).toContain(`failures="${regressed.counts.regressed}"`);
    expect(xml).toContain(`<testcase name="${ARM} pull p50" classname="pullbench.compare.quickstart.${ARM}"><failure message="pull p50 +60.0%`);
  });

  it('JUnit for runs that cannot be compared: one failing testcase with the reasons', () => {
    const cur = copy();
    cur.scenario.name = 'other';
    const xml = renderComparisonJunit(compareResults(fixture, cur));
    expect(xml).toMatch(/<testcase name="comparable" [^>]*><failure message="not comparable: different scenarios/);
  });

  it('Markdown: a headline with the verdict and a table of the changed rows', () => {
    const md = renderComparisonMarkdown(regressed);
    expect(md).toMatch(/^## pullbench compare: quickstart — 🔴 regressed/);
    expect(md).toContain('`base.json`');
    expect(md).toContain(`| ${ARM} | pull p50 |`);
    expect(md).toContain('<details><summary>All metrics</summary>');
  });
});
