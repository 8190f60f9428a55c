import { percentileSorted } from '../measure/stats.js';
import { armMatches } from '../scenario/matrix.js';
import type { Metric, Scenario } from '../scenario/schema.js';
import { formatMs } from '../util/units.js';
import type { ArmResult, RunResults, ThresholdResult } from './model.js';

function metricValue(arm: ArmResult, metric: Metric, percentile: number, cause: string | undefined): number | undefined {
  const a = arm.aggregate;
  switch (metric) {
    case 'pull':
    case 'pullWithWaiting': {
      const values = arm.repetitions.flatMap((r) => r.pods).flatMap((p) => {
        const v = metric === 'pull' ? p.pullMs : (p.pullWithWaitingMs ?? p.pullMs);
        return v === undefined ? [] : [v];
      });
      return values.length ? percentileSorted(values.sort((x, y) => x - y), percentile) : undefined;
    }
    case 'rolloutDuration':
      return a.rolloutDuration?.mean;
    case 'failureRate':
      return a.failures.rate;
    case 'upstreamPulls':
      return a.upstreamPulls;
    case 'tooManyRequests':
      return a.tooManyRequests;
    case 'blobBytes':
      return a.bytes.registry + a.bytes.mirror;
    case 'pullFailures': {
      const byCause = a.failures.byCause ?? {};
      return cause === undefined ? Object.values(byCause).reduce((x, y) => x + y, 0) : (byCause[cause] ?? 0);
    }
    case 'recovery':
      return a.recovery && a.recovery.notRecovered === 0 ? a.recovery.ms?.mean : undefined;
  }
}

function formatThreshold(metric: Metric, v: number | undefined): string {
  if (v === undefined) return 'no data';
  if (metric === 'pull' || metric === 'pullWithWaiting' || metric === 'rolloutDuration' || metric === 'recovery') return formatMs(v);
  if (metric === 'failureRate') return `${(v * 100).toFixed(1)}%`;
  return `${Math.round(v)}`;
}

/** Every threshold against every arm it selects. An arm without data fails its threshold. */
export function evaluateThresholds(scenario: Pick<Scenario, 'thresholds'>, arms: ArmResult[]): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const t of scenario.thresholds) {
    const pct = t.percentile ?? 95;
    for (const arm of arms.filter((a) => armMatches(t.arm, a.arm.name))) {
      const actual = metricValue(arm, t.metric, pct, t.cause);
      const passed = actual !== undefined && actual <= t.max;
      const label = t.metric === 'pull' || t.metric === 'pullWithWaiting' ? `${t.metric} p${pct}` : t.cause ? `${t.metric} (${t.cause})` : t.metric;
      out.push({
        arm: arm.arm.name, metric: t.metric, ...(t.metric === 'pull' || t.metric === 'pullWithWaiting' ? { percentile: pct } : {}),
        max: t.max, actual, passed,
        name: `${arm.arm.name} ${label} <= ${formatThreshold(t.metric, t.max)}`,
        description: `${arm.arm.name} ${label} ${formatThreshold(t.metric, actual)} ${passed ? '<=' : '>'} ${formatThreshold(t.metric, t.max)}`,
      });
    }
  }
  return out;
}

/**
 * The failure-rate gate: pods that did not do what the scenario expected
 * (failed though meant to start, or started though meant to fail), over all
 * arms and repetitions, against `failureRate.max`.
 */
export function failureRateGate(scenario: Pick<Scenario, 'failureRate'>, arms: ArmResult[]): RunResults['gate'] {
  const pods = arms.flatMap((a) => a.repetitions.flatMap((r) => r.pods));
  const unexpected = pods.filter((p) => (p.outcome !== 'ready') !== p.expectFailure).length;
  const failureRate = pods.length ? unexpected / pods.length : 0;
  return { failureRate, max: scenario.failureRate.max, passed: failureRate <= scenario.failureRate.max };
}
