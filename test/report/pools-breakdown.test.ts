import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compareResults, renderComparisonJunit, renderComparisonTable } from '../../src/compare/index.js';
import type { PodTimeline } from '../../src/measure/timeline.js';
import { emptyStats, type RegistryStats } from '../../src/registry/stats.js';
import { renderHtmlReport } from '../../src/report/html/index.js';
import { renderJunit, renderSummary } from '../../src/report/render.js';
import { aggregateArm, type ArmResult, type Repetition, type RunResults } from '../../src/results/index.js';
import { formatBytes, formatMs } from '../../src/util/units.js';

// The machine a real run recorded (the quickstart's), so that compare and the report read a full environment.
const quickstart = JSON.parse(readFileSync(new URL('../compare/fixtures/quickstart-small.results.json', import.meta.url), 'utf8')) as RunResults;

// Runs with two pools (core, edge) and two registries (public, private), built from pods as collectStage records
// them: every pod names its pool, every repetition its pools' link bytes and its registries' counters.
type Pools = Record<string, { pull: (i: number) => number; failed?: number }>;

const stats = (bytes: number, manifestGet: number): RegistryStats => ({ ...emptyStats(false), bytesServed: bytes, manifestGet, blobGet: 2 * manifestGet });

function repetition(index: number, pools: Pools): Repetition {
  const pods: (PodTimeline & { pool: string })[] = Object.entries(pools).flatMap(([pool, { pull, failed = 0 }]) =>
    Array.from({ length: 12 }, (_, i): PodTimeline & { pool: string } => {
      const fails = i < failed;
      return {
        uid: `${pool}-${index}-${i}`, name: `app-1-${i}`, rollout: 'app', image: 'reg/shop/api:v1', createdAt: 0, alreadyPresent: false, pullErrors: fails ? 1 : 0,
        outcome: fails ? 'failed' : 'ready', expectFailure: false, node: `${pool}-node-${(i % 3) + 1}`, pool,
        ...(fails ? { failureReason: 'ErrImagePull' } : { pullMs: pull(i + index), pullWithWaitingMs: pull(i + index) + 5 }),
      };
    }),
  );
  const registries = { public: { registry: stats(4_000_000, 6) }, private: { registry: stats(2_000_000, 12) } };
  return {
    index, startedAt: 1_700_000_000_000 + index, rolloutDurationMs: 2000 + index * 10, steps: [], pods,
    registry: stats(6_000_000, 18), registries,
    pools: Object.fromEntries(Object.keys(pools).map((p, i) => [p, { nodes: 3, linkBytes: { registry: (i + 1) * 1_000_000, mirror: 0 } }])),
    linkBytes: { registry: 3_000_000, mirror: 0 },
  };
}

function run(pools: Pools, armNames = ['IfNotPresent/direct/cold', 'IfNotPresent/mirror/cold']): RunResults {
  const arms: ArmResult[] = armNames.map((name) => {
    const [pullPolicy, topology, cache] = name.split('/') as ['IfNotPresent', 'direct', 'cold'];
    const repetitions = [0, 1, 2].map((i) => repetition(i, pools));
    return { arm: { name, pullPolicy, topology, cache }, repetitions, aggregate: aggregateArm(repetitions, () => 500_000) };
  });
  return {
    schemaVersion: 1, kind: 'pullbench.results', scenario: { name: 'edge-and-core', file: 'e.yaml', spec: {} }, startedAt: '2026-12-07T03:00:00Z', finishedAt: '2026-12-07T03:01:00Z',
    environment: quickstart.environment, arms, thresholds: [], gate: { failureRate: 0, max: 0.05, passed: true }, passed: true,
  };
}

const core = { pull: (i: number) => 100 + (i % 7) * 5 };
const edge = { pull: (i: number) => 400 + (i % 5) * 20 };
const base = run({ core, edge });

describe('the summary of a run with pools and several registries', () => {
  const text = renderSummary(base);

  it("lists every arm's pools with the figures of aggregate.byPool, each arm named once", () => {
    const lines = text.split('\n');
    const head = lines.findIndex((l) => /^arm\s+pool\s+nodes\s+pods\s+pull p50\s+p95\s+failed\s+registry\s+mirror$/.test(l));
    expect(head).toBeGreaterThan(0);
    const rows = lines.slice(head + 2, head + 6);
    const edgeFigures = base.arms[0]!.aggregate.byPool!.edge!;
    expect(rows[0]).toMatch(/^IfNotPresent\/direct\/cold\s+core\s+3\s+36\s/);
    expect(rows[1]).toMatch(new RegExp(`^\\s+edge\\s+3\\s+36\\s+${formatMs(edgeFigures.pull!.p50)}\\s+${formatMs(edgeFigures.pull!.p95)}\\s+0\\s+${formatBytes(2_000_000)}\\s+0 B$`));
    expect(rows[2]).toMatch(/^IfNotPresent\/mirror\/cold\s+core\s/);
  });

  it("lists every arm's registries with their bytes and pulls", () => {
    expect(text).toMatch(/^arm\s+registry\s+served\s+mirror\s+pulls\s+429s\s+hit$/m);
    expect(text).toMatch(/^IfNotPresent\/direct\/cold\s+public\s+4\.0 MB\s+0 B\s+6\s+0\s+-$/m);
    expect(text).toMatch(/^\s+private\s+2\.0 MB\s+0 B\s+12\s+0\s+-$/m);
  });

  it('stays within 100 columns', () => {
    for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100);
  });

  it('has no breakdown for a run without pools or registries', () => {
    const flat = structuredClone(base);
    for (const arm of flat.arms) {
      delete arm.aggregate.byPool;
      delete arm.aggregate.byRegistry;
    }
    expect(renderSummary(flat)).not.toMatch(/^arm\s+pool/m);
    expect(renderSummary(flat)).not.toMatch(/^arm\s+registry/m);
  });
});

describe('JUnit of a run with pools', () => {
  const junit = renderJunit(base);

  it("has a testcase per arm and pool, its figures as properties and output, as the arm's cases are classed", () => {
    const p50 = base.arms[0]!.aggregate.byPool!.edge!.pull!.p50;
    expect(junit).toContain(
      `<testcase name="IfNotPresent/direct/cold pool edge" classname="pullbench.edge-and-core.IfNotPresent/direct/cold"><properties><property name="nodes" value="3"/><property name="pods" value="36"/><property name="pullP50Ms" value="${p50}"/>`,
    );
    expect(junit).toMatch(/<testcase name="IfNotPresent\/mirror\/cold registry private"[^>]*><properties><property name="bytesServed" value="2000000"\/>/);
    expect(junit).toContain('tests="9" failures="0"'); // 2 arms x (2 pools + 2 registries) + the failure-rate gate
  });

  it('records a pool whose pods failed, and leaves judging to the gate: the run passed, so does JUnit', () => {
    const failing = run({ core, edge: { ...edge, failed: 2 } });
    const xml = renderJunit(failing);
    expect(xml).toMatch(/<testcase name="IfNotPresent\/direct\/cold pool edge"[^>]*>.*<property name="failed" value="6"\/>.*<system-out>[^<]*failed 6[^<]*<\/system-out>/);
    expect(xml).toContain('failures="0"');
  });
});

describe('the HTML report of a run with pools', () => {
  const dataOf = (html: string) => JSON.parse(/<script type="application\/json" id="pb-data">(.*?)<\/script>/s.exec(html)![1]!);

  it('has a table row per arm and pool, a row per arm and registry, and the chart of pull times per pool', async () => {
    const html = await renderHtmlReport(base, { chartJs: '' });
    expect([...html.matchAll(/<tr data-arm="([^"]+)" data-pool="([^"]+)">/g)].map((m) => `${m[1]} ${m[2]}`)).toEqual([
      'IfNotPresent/direct/cold core', 'IfNotPresent/direct/cold edge', 'IfNotPresent/mirror/cold core', 'IfNotPresent/mirror/cold edge',
    ]);
    expect([...html.matchAll(/data-registry="([^"]+)"/g)].map((m) => m[1])).toEqual(['public', 'private', 'public', 'private']);
    expect(html).toContain('<canvas id="chart-pools"');
    const p = base.arms[0]!.aggregate.byPool!.edge!;
    expect(html).toContain(`<td data-value="${p.pull!.p50}">${formatMs(p.pull!.p50)}</td>`);
    expect(dataOf(html).arms[0].pools).toEqual([
      { name: 'core', p50: base.arms[0]!.aggregate.byPool!.core!.pull!.p50, p95: base.arms[0]!.aggregate.byPool!.core!.pull!.p95 },
      { name: 'edge', p50: p.pull!.p50, p95: p.pull!.p95 },
    ]);
  });

  it('has no pool section without pools', async () => {
    const flat = structuredClone(base);
    for (const arm of flat.arms) delete arm.aggregate.byPool;
    const html = await renderHtmlReport(flat, { chartJs: '' });
    expect(html).not.toContain('id="chart-pools"');
    expect(html).not.toContain('id="pool-table"');
  });
});

describe('compare with pools and registries', () => {
  const rows = (c: ReturnType<typeof compareResults>, arm: string, scope: { pool?: string; registry?: string }) =>
    c.metrics.filter((m) => m.arm === arm && m.pool === scope.pool && m.registry === scope.registry);
  const ARM = 'IfNotPresent/direct/cold';

  it("compares each pool's pod metrics and each registry's counters beside the totals; a run against itself is unchanged", () => {
    const c = compareResults(base, run({ core, edge }), { resamples: 300 });
    expect(c.verdict).toBe('unchanged');
    expect(rows(c, ARM, { pool: 'edge' }).map((m) => m.metric)).toEqual(['pullP50', 'pullP95', 'pullWithWaitingP50', 'pullWithWaitingP95', 'failureRate']);
    expect(rows(c, ARM, { registry: 'private' }).map((m) => m.metric)).toEqual(['registryBytes', 'upstreamPulls', 'tooManyRequests']);
    expect(rows(c, ARM, { registry: 'private' })[0]).toMatchObject({ baseline: 2_000_000, current: 2_000_000 });
    // Per arm: 9 totals, 2 pools x 5, 2 registries x 3.
    expect(c.metrics).toHaveLength(2 * (9 + 10 + 6));
  });

  it('finds a regression of one pool that the total would water down, with the same bootstrap and tolerance', () => {
    const slowEdge = run({ core, edge: { pull: (i) => 3 * edge.pull(i) } });
    const c = compareResults(base, slowEdge, { resamples: 300 });
    const edgeP50 = rows(c, ARM, { pool: 'edge' }).find((m) => m.metric === 'pullP50')!;
    expect(edgeP50).toMatchObject({ verdict: 'regressed', baseline: base.arms[0]!.aggregate.byPool!.edge!.pull!.p50 });
    expect(edgeP50.ci!.low).toBeGreaterThan(0);
    expect(rows(c, ARM, { pool: 'core' }).every((m) => m.verdict === 'unchanged')).toBe(true);
    expect(c.verdict).toBe('regressed');
    const table = renderComparisonTable(c);
    expect(table).toMatch(/^IfNotPresent\/direct\/cold \[pool edge\]\s+pull p50\s/m);
    expect(table).toContain('REGRESSED: IfNotPresent/direct/cold [pool edge] pull p50:');
    expect(renderComparisonJunit(c)).toMatch(/<testcase name="IfNotPresent\/direct\/cold \[pool edge\] pull p50" classname="pullbench.compare.edge-and-core.IfNotPresent\/direct\/cold"><failure /);
  });

  it("calls a pool in one run only not comparable, naming the side, and still compares the pools both have", () => {
    const renamed = run({ core, branch: edge });
    const c = compareResults(base, renamed, { resamples: 300 });
    expect(rows(c, ARM, { pool: 'edge' }).map((m) => [m.verdict, m.reason])).toEqual(Array(5).fill(['not comparable', 'pool "edge" only in the baseline']));
    expect(rows(c, ARM, { pool: 'branch' }).every((m) => m.verdict === 'not comparable' && m.reason === 'pool "branch" only in the current run')).toBe(true);
    expect(rows(c, ARM, { pool: 'core' }).every((m) => m.verdict === 'unchanged')).toBe(true);
    expect(renderComparisonJunit(c)).toMatch(/<testcase name="IfNotPresent\/direct\/cold \[pool edge\] pull p50"[^>]*><skipped message="pool &quot;edge&quot; only in the baseline"\/>/);
  });
});
