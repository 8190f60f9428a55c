import { describe, expect, it } from 'vitest';
import type { PodTimeline } from '../../src/measure/timeline.js';
import { emptyStats } from '../../src/registry/stats.js';
import { renderJunit, renderSummary } from '../../src/report/render.js';
import { aggregateArm, evaluateThresholds, type ArmResult, type Repetition, type RunResults } from '../../src/results/index.js';

const pod = (over: Partial<PodTimeline>): PodTimeline => ({
  uid: 'u', name: 'p', rollout: 'app', image: 'reg:5000/demo/app:v1', createdAt: 0, alreadyPresent: false, pullErrors: 0, outcome: 'ready', expectFailure: false, ...over,
});
const rep = (index: number, pods: PodTimeline[], over: Partial<Repetition> = {}): Repetition => ({
  index, startedAt: 0, rolloutDurationMs: 1000 + index * 100, steps: [], pods, registry: { ...emptyStats(false), manifestGet: 4, blobGet: 8, bytesServed: 8000 }, ...over,
});

describe('arm aggregates', () => {
  const reps = [
    rep(0, [pod({ pullMs: 100, pullWithWaitingMs: 150 }), pod({ pullMs: 300, pullWithWaitingMs: 300 }), pod({ alreadyPresent: true })]),
    rep(1, [pod({ pullMs: 200 }), pod({ outcome: 'failed', failureReason: 'ErrImagePull' }), pod({ outcome: 'failed', failureReason: 'ImagePullBackOff', expectFailure: true })], {
      mirror: { ...emptyStats(true), blobGet: 10, upstreamBlobGet: 2, bytesServed: 500 },
    }),
  ];
  const a = aggregateArm(reps, () => 7000);

  it('pools pull times over repetitions and averages per-repetition means with a CI', () => {
    expect(a.pull).toMatchObject({ count: 3, p50: 200, max: 300 });
    expect(a.pullWithWaiting).toMatchObject({ count: 3, max: 300, min: 150 });
    expect(a.pullMean).toMatchObject({ n: 2, mean: 200 }); // (100+300)/2 and 200
    expect(a.rolloutDuration).toMatchObject({ n: 2, mean: 1050 });
  });

  it('counts failures by reason, and only unexpected ones in the rate', () => {
    expect(a.failures).toMatchObject({ total: 2, unexpected: 1, byReason: { ErrImagePull: 1, ImagePullBackOff: 1 }, rate: 1 / 6 });
    // These pods carry no per-attempt record (results written before it): no attempt counted under any cause.
    expect(Object.values(a.failures.byCause!)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('attributes bytes to registry, mirror and node cache, and computes the mirror hit ratio', () => {
    // Repetition 0: three pods got 7,000 bytes each, 8,000 came from the registry; repetition 1: one pod, 500 from the mirror.
    expect(a.bytes).toEqual({ registry: 8000, mirror: 250, nodeCache: (21000 - 8000 + (7000 - 500)) / 2 });
    expect(a.upstreamPulls).toBe(4);
    expect(a.mirrorHitRatio).toBeCloseTo(0.8, 10);
  });

  it('counts the node cache alike for Always on a warm node and for IfNotPresent: image bytes that did not cross a link', () => {
    const warm = (pods: PodTimeline[], manifestBytes: number): Repetition => rep(0, pods, { registry: { ...emptyStats(false), bytesServed: manifestBytes }, linkBytes: { registry: manifestBytes, mirror: 0 } });
    const present = aggregateArm([warm([pod({ alreadyPresent: true }), pod({ alreadyPresent: true })], 0)], () => 7_000_000);
    const always = aggregateArm([warm([pod({ pullMs: 40 }), pod({ pullMs: 45 })], 2 * 1500)], () => 7_000_000);
    expect(present.bytes.nodeCache).toBe(14_000_000);
    // Always fetched the two manifests again (1,500 bytes each); every layer came from the node.
    expect(always.bytes.nodeCache).toBe(14_000_000 - 3000);
    const cold = aggregateArm([warm([pod({ pullMs: 900 }), pod({ pullMs: 950 })], 14_003_000)], () => 7_000_000);
    expect(cold.bytes.nodeCache).toBe(0);
  });

  it('evaluates thresholds per selected arm', () => {
    const arm: ArmResult = { arm: { name: 'IfNotPresent/direct/cold', pullPolicy: 'IfNotPresent', topology: 'direct', cache: 'cold' }, repetitions: reps, aggregate: a };
    const results = evaluateThresholds(
      { thresholds: [{ arm: 'IfNotPresent', metric: 'pull', percentile: 50, max: 250 }, { arm: '*/mirror', metric: 'pull', max: 1 }, { arm: '*', metric: 'failureRate', max: 0.1 }] },
      [arm],
    );
    expect(results.map((r) => [r.name, r.passed])).toEqual([
      ['IfNotPresent/direct/cold pull p50 <= 250ms', true],
      ['IfNotPresent/direct/cold failureRate <= 10.0%', false],
    ]);
    const run: RunResults = {
      schemaVersion: 1, kind: 'pullbench.results', scenario: { name: 'unit', file: 'u.yaml', spec: {} }, startedAt: 'T', finishedAt: 'T',
      environment: {} as RunResults['environment'], arms: [arm], thresholds: results, gate: { failureRate: 1 / 6, max: 0, passed: false }, passed: false,
    };
    const junit = renderJunit(run);
    // Thresholds, the failure rate, and the arm's expected failure: a passing testcase that says it was expected.
    expect(junit).toContain('tests="4" failures="2"');
    expect(junit).toContain('<testcase name="IfNotPresent/direct/cold expected failures" classname="pullbench.unit.IfNotPresent/direct/cold"><system-out>1 pod(s) failed as expected (rollouts[].expect: failure): ImagePullBackOff</system-out></testcase>');
    expect(junit).toContain('<testcase name="IfNotPresent/direct/cold pull p50 &lt;= 250ms"');
    const table = renderSummary(run);
    expect(table).toContain('ErrImagePull x1');
    expect(table).toContain('FAIL  IfNotPresent/direct/cold failureRate 16.7% > 10.0%');
  });
});
