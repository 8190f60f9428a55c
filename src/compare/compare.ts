import type { ArmResult, Comparison, EnvironmentComparison, MetricComparison, RunResults, Verdict } from '../results/index.js';
import { BUSIER_DELAY_MS, compareEnvironments } from './environment.js';
import { bootstrapDifference, pooled, seedOf } from '../measure/bootstrap.js';
import { COMPARE_METRICS, METRICS, POOL_METRICS, REGISTRY_METRICS, type CompareMetric, type Tolerances } from './metrics.js';
import { emptyStats } from '../registry/stats.js';

export interface CompareOptions {
  tolerances?: Tolerances;
  /** Bootstrap resamples (default 2000). */
  resamples?: number;
  files?: { baseline?: string | undefined; current?: string | undefined };
}

const nodeMajor = (v: string | undefined): string => (v ?? '').split('.')[0] ?? '';
const get = (o: unknown, path: string[]): unknown => path.reduce<unknown>((x, k) => (x && typeof x === 'object' ? (x as Record<string, unknown>)[k] : undefined), o);

// scale.bytes as the run recorded it (results from before the results field: the spec's), 1 when unscaled.
const byteScale = (r: RunResults): number => r.scale?.bytes ?? (get(r.scenario.spec, ['scale', 'bytes']) as number | undefined) ?? 1;
const scaleText = (f: number): string => (f === 1 ? '1 (unscaled)' : String(f));

/** Why two runs cannot be compared: different results schema, scenario, environment or byte scale. Empty when they can. */
export function incomparability(baseline: RunResults, current: RunResults): string[] {
  const reasons: string[] = [];
  if (baseline.schemaVersion !== current.schemaVersion) {
    reasons.push(`results schemaVersion differs: ${String(baseline.schemaVersion)} vs ${String(current.schemaVersion)}`);
    return reasons;
  }
  if (baseline.scenario.name !== current.scenario.name) reasons.push(`different scenarios: "${baseline.scenario.name}" vs "${current.scenario.name}"`);
  const modelled = modelMismatch(baseline, current);
  if (modelled) reasons.push(modelled);
  const b = baseline.environment;
  const c = current.environment;
  const env: Array<[string, unknown, unknown]> = [
    ['CPU count', b.cpus, c.cpus],
    ['Node.js major version', nodeMajor(b.node), nodeMajor(c.node)],
    ['platform', b.platform, c.platform],
    ['architecture', b.arch, c.arch],
    ...(modelled ? [] : [['cluster driver', b.cluster.driver, c.cluster.driver] as [string, unknown, unknown]]),
    ['node runtime', b.cluster.runtime, c.cluster.runtime],
    ['registry provider', get(baseline.scenario.spec, ['registry', 'provider']), get(current.scenario.spec, ['registry', 'provider'])],
  ];
  for (const [what, x, y] of env) if (x !== y) reasons.push(`different ${what}: ${String(x)} vs ${String(y)}`);
  const [bs, cs] = [byteScale(baseline), byteScale(current)];
  if (bs !== cs) reasons.push(`different byte scales (scale.bytes): ${scaleText(bs)} vs ${scaleText(cs)}; their byte counts measure different layer sizes`);
  const common = current.arms.filter((a) => baseline.arms.some((x) => x.arm.name === a.arm.name));
  if (reasons.length === 0 && common.length === 0) reasons.push('no arm in common');
  return reasons;
}

// A modelled run (driver model) predicts; a live one measures: comparing one with the other says which is which.
// Two modelled runs are comparable only under the same calibration, which sets their servers' speed.
function modelMismatch(baseline: RunResults, current: RunResults): string | undefined {
  const what = (r: RunResults): string => (r.model ? 'modelled (driver model, virtual time)' : `live (driver ${r.environment.cluster.driver ?? 'unknown'})`);
  if (!baseline.model !== !current.model) {
    return `a modelled run against a live one: the baseline is ${what(baseline)}, the current run is ${what(current)}; compare the model with live runs through bench/model/run.ts (docs/model.md)`;
  }
  if (baseline.model && current.model && JSON.stringify(baseline.model.calibration) !== JSON.stringify(current.model.calibration)) {
    return `both modelled, with different calibrations (measured ${baseline.model.calibration.measuredAt} vs ${current.model.calibration.measuredAt}): their server speeds differ by construction`;
  }
  return undefined;
}

/** Leaf fields of two JSON values that differ, as `path: a -> b`. */
export function specChanges(a: unknown, b: unknown, path = ''): string[] {
  const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object';
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => specChanges(a[k], b[k], Array.isArray(a) ? `${path}[${k}]` : path ? `${path}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [`${path || '(root)'}: ${JSON.stringify(a) ?? 'absent'} -> ${JSON.stringify(b) ?? 'absent'}`];
}

/** A row about the arm's total, or about one pool or registry of it (its seed and its subject). */
type Scope = Record<string, never> | { pool: string } | { registry: string };
const scopeKey = (scope: Scope): string => ('pool' in scope ? `pool:${scope.pool}|` : 'registry' in scope ? `registry:${scope.registry}|` : '');

function compareMetric(arm: string, metric: CompareMetric, base: ArmResult, cur: ArmResult, tolerance: number, resamples: number, machine = 1, scope: Scope = {}): MetricComparison {
  const def = METRICS[metric];
  // machine: the slowdown the busier side's machine explains; the current run's timings are divided by it.
  const curSamples = machine === 1 ? def.samples(cur) : def.samples(cur).map((rep) => rep.map((s) => s.map((x) => x / machine)));
  const bs = pooled(def.samples(base));
  const cs = pooled(curSamples);
  const row = { arm, ...scope, metric, label: def.label, unit: def.unit, samples: { baseline: bs.length, current: cs.length }, tolerance };
  if (bs.length === 0 && cs.length === 0) return { ...row, verdict: 'unchanged', reason: `no ${def.per === 'pod' ? 'pulls' : 'samples'} in either run` };
  if (bs.length === 0 || cs.length === 0) {
    return { ...row, verdict: 'not comparable', reason: `no ${def.per === 'pod' ? 'pulls' : 'samples'} in the ${bs.length === 0 ? 'baseline' : 'current run'}` };
  }
  // The total's seed is the one it always had; a pool's or registry's row is seeded apart.
  const ci = bootstrapDifference(def.samples(base), curSamples, def.statistic, { seed: seedOf(`${arm}|${scopeKey(scope)}${metric}`), resamples });
  const baseline = def.statistic(bs);
  const current = def.statistic(cs);
  const delta = ci.delta;
  const relative = baseline === 0 ? (delta === 0 ? 0 : Math.sign(delta) * Infinity) : delta / Math.abs(baseline);
  // failureRate is itself a share: its tolerance is in percentage points.
  const change = def.unit === 'ratio' ? delta * 100 : relative * 100;
  const full = { ...row, baseline, current, delta, relative, ci: { low: ci.low, high: ci.high } };
  const changeText = def.unit === 'ratio' ? `${signed(change, 1)} pp` : Number.isFinite(change) ? `${signed(change, 1)}%` : `from 0 to ${current}`;
  if (Math.abs(change) <= tolerance) return { ...full, verdict: 'unchanged', reason: `${changeText} is within the ${tolerance}${def.unit === 'ratio' ? ' pp' : '%'} tolerance` };
  if (def.noisy && (bs.length < 2 || cs.length < 2)) {
    return { ...full, verdict: 'unchanged', reason: `${changeText}, but one sample a side cannot tell it from noise (repeat >= 2 for this metric)` };
  }
  if (delta > 0 && ci.low > 0) return { ...full, verdict: 'regressed', reason: `${changeText}, 95% CI of the difference above 0` };
  if (delta < 0 && ci.high < 0) return { ...full, verdict: 'improved', reason: `${changeText}, 95% CI of the difference below 0` };
  return { ...full, verdict: 'unchanged', reason: `${changeText}, but the 95% CI of the difference includes 0 (noise)` };
}

function signed(x: number, digits: number): string {
  return `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;
}

// The ratio current / baseline of a metric's statistic for one arm; undefined where either side has no positive value.
function ratio(metric: CompareMetric, base: ArmResult, cur: ArmResult): number | undefined {
  const def = METRICS[metric];
  const [b, c] = [pooled(def.samples(base)), pooled(def.samples(cur))];
  if (b.length === 0 || c.length === 0) return undefined;
  const [x, y] = [def.statistic(b), def.statistic(c)];
  return x > 0 && y > 0 ? y / x : undefined;
}

/**
 * When one side ran on a busier machine, the slowdown of a timing metric that every arm
 * shared is the machine's: like a control group, the least-changed arm bounds what the
 * machine did: the smallest ratio current/baseline when the current run was busier (at
 * least 1), the largest when the baseline was (at most 1). A single arm is its own
 * control, so nothing is left to claim.
 */
function machineFactors(env: EnvironmentComparison, pairs: Array<[ArmResult, ArmResult]>): Partial<Record<CompareMetric, number>> {
  if (env.verdict !== 'current busier' && env.verdict !== 'baseline busier') return {};
  const out: Partial<Record<CompareMetric, number>> = {};
  for (const metric of COMPARE_METRICS) {
    if (!METRICS[metric].noisy) continue;
    const ratios = pairs.map(([b, c]) => ratio(metric, b, c)).filter((r): r is number => r !== undefined);
    if (ratios.length === 0) continue;
    const [low, high] = [Math.min(...ratios), Math.max(...ratios)];
    out[metric] = env.verdict === 'current busier' ? Math.max(1, low) : Math.min(1, high);
  }
  return out;
}

// A claim the raw data makes stands only if it survives taking the machine's share out; it is never created by it.
function judged(raw: MetricComparison, adjusted: MetricComparison, factor: number, env: EnvironmentComparison): MetricComparison {
  if (raw.verdict !== 'regressed' && raw.verdict !== 'improved') return raw;
  const side = env.verdict === 'current busier' ? 'current run' : 'baseline';
  const shared = `the ${side} ran on a busier machine and every arm's ${raw.label} moved by x${factor.toFixed(2)}`;
  if (adjusted.verdict === raw.verdict) return { ...raw, reason: `${raw.reason}; still ${raw.verdict} beyond the shared x${factor.toFixed(2)} (${shared})` };
  return { ...raw, verdict: 'inconclusive', reason: `${raw.reason}, but ${shared}, which explains it` };
}

/**
 * Other work took half of each machine or more: the harness was starved on both sides and
 * its timings measure the scheduler as much as the pull. Only a change beyond what starvation
 * did between A/A runs stands (docs/reports.md: one arm moved x3.3 between two runs of the
 * same code on a saturated machine).
 */
export const BOTH_BUSY_FACTOR = 4;

function busyBoth(m: MetricComparison): MetricComparison {
  if (!METRICS[m.metric].noisy || (m.verdict !== 'regressed' && m.verdict !== 'improved')) return m;
  const r = m.baseline && m.current ? m.current / m.baseline : 1;
  if (r >= BOTH_BUSY_FACTOR || r <= 1 / BOTH_BUSY_FACTOR) return { ...m, reason: `${m.reason}; both runs shared a busy machine, but the change is beyond x${BOTH_BUSY_FACTOR}` };
  return { ...m, verdict: 'inconclusive', reason: `${m.reason}, but both runs shared a busy machine (other work took half of it or more), and starvation moves timings by up to x${BOTH_BUSY_FACTOR}` };
}

// The harness's own event-loop delay while the arm's rollouts ran (p99, mean over repetitions); undefined without usage.
function loopDelay(arm: ArmResult): number | undefined {
  const d = arm.repetitions.flatMap((r) => (r.usage ? [r.usage.eventLoop.delayP99Ms] : []));
  return d.length > 0 ? d.reduce((a, b) => a + b, 0) / d.length : undefined;
}

/**
 * Arms run one after another, so a neighbour that comes and goes can slow one arm and
 * not the others. Every time an emulated run measures passes through its event loop: when
 * the loop ran late by twice as much and by BUSIER_DELAY_MS or more during one side's
 * rollouts of this arm, a timing change in that direction is the harness's, not the pull's.
 */
function lateLoop(m: MetricComparison, base: ArmResult, cur: ArmResult): MetricComparison {
  if (!METRICS[m.metric].noisy || (m.verdict !== 'regressed' && m.verdict !== 'improved')) return m;
  const [b, c] = [loopDelay(base), loopDelay(cur)];
  if (b === undefined || c === undefined) return m;
  const [slow, fast] = m.verdict === 'regressed' ? [c, b] : [b, c];
  if (slow - fast < BUSIER_DELAY_MS || slow < 2 * fast) return m;
  const side = m.verdict === 'regressed' ? 'current run' : 'baseline';
  return { ...m, verdict: 'inconclusive', reason: `${m.reason}, but the ${side}'s event loop ran late during this arm (delay p99 ${slow.toFixed(0)}ms vs ${fast.toFixed(0)}ms), which explains it` };
}

const union = (a: string[], b: string[]): string[] => [...new Set([...a, ...b])];
// An arm's pools and registries as its repetitions recorded them (cluster.pools, registries:); none in the flat form.
const poolsOf = (arm: ArmResult): string[] => Object.keys(arm.repetitions[0]?.pools ?? {});
const registriesOf = (arm: ArmResult): string[] => Object.keys(arm.repetitions[0]?.registries ?? {});

/** The arm seen through one pool: the pods on that pool's nodes only; every per-pod metric then measures the pool. */
function poolView(arm: ArmResult, pool: string): ArmResult {
  return { ...arm, repetitions: arm.repetitions.map((r) => ({ ...r, pods: r.pods.filter((p) => p.pool === pool) })) };
}

/** The arm seen through one registry: that registry's and its mirror's counters in place of the sums. */
function registryView(arm: ArmResult, registry: string): ArmResult {
  return {
    ...arm,
    repetitions: arm.repetitions.map((r) => {
      const { mirror: _sum, ...rest } = r;
      const own = r.registries?.[registry];
      return { ...rest, registry: own?.registry ?? emptyStats(false), ...(own?.mirror ? { mirror: own.mirror } : {}) };
    }),
  };
}

/**
 * The regression gate, pure: for each arm in either run and each metric, the
 * change and whether it is real given the noise (95% bootstrap CI of the
 * difference of the statistic, seeded per arm and metric) and larger than
 * the metric's tolerance; and the same per pool (pod metrics of that pool's
 * pods) and per registry (its counters) of arms both runs have.
 */
export function compareResults(baseline: RunResults, current: RunResults, options: CompareOptions = {}): Comparison {
  const resamples = options.resamples ?? 2000;
  const reasons = incomparability(baseline, current);
  const metrics: MetricComparison[] = [];
  const environment = compareEnvironments(baseline, current);
  if (reasons.length === 0) {
    const names = [...new Set([...baseline.arms, ...current.arms].map((a) => a.arm.name))];
    const pairs = names.flatMap((name): Array<[ArmResult, ArmResult]> => {
      const [b, c] = [baseline.arms.find((a) => a.arm.name === name), current.arms.find((a) => a.arm.name === name)];
      return b && c ? [[b, c]] : [];
    });
    const factors = machineFactors(environment, pairs);
    if (Object.keys(factors).length > 0) environment.machineFactor = factors;
    // One row: the same bootstrap, tolerance and machine adjustments for an arm's total and for each of its pools and registries.
    const row = (name: string, metric: CompareMetric, b: ArmResult | undefined, c: ArmResult | undefined, scope: Scope, missing: string): MetricComparison => {
      const tolerance = options.tolerances?.[metric] ?? METRICS[metric].tolerance;
      if (!b || !c) {
        const def = METRICS[metric];
        return { arm: name, ...scope, metric, label: def.label, unit: def.unit, samples: { baseline: 0, current: 0 }, tolerance, verdict: 'not comparable', reason: `${missing} only in the ${b ? 'baseline' : 'current run'}` };
      }
      const factor = factors[metric];
      const raw = compareMetric(name, metric, b, c, tolerance, resamples, 1, scope);
      const machine = factor === undefined || factor === 1 ? raw : judged(raw, compareMetric(name, metric, b, c, tolerance, resamples, factor, scope), factor, environment);
      return environment.verdict === 'both busy' ? busyBoth(machine) : lateLoop(machine, b, c);
    };
    for (const name of names) {
      const b = baseline.arms.find((a) => a.arm.name === name);
      const c = current.arms.find((a) => a.arm.name === name);
      for (const metric of COMPARE_METRICS) {
        const applies = METRICS[metric].applies;
        if (applies && !(b && applies(b)) && !(c && applies(c))) continue;
        metrics.push(row(name, metric, b, c, {}, 'arm'));
      }
      if (!b || !c) continue;
      for (const pool of union(poolsOf(b), poolsOf(c))) {
        const [bp, cp] = [poolsOf(b).includes(pool) ? poolView(b, pool) : undefined, poolsOf(c).includes(pool) ? poolView(c, pool) : undefined];
        for (const metric of POOL_METRICS) metrics.push(row(name, metric, bp, cp, { pool }, `pool "${pool}"`));
      }
      for (const registry of union(registriesOf(b), registriesOf(c))) {
        const [br, cr] = [registriesOf(b).includes(registry) ? registryView(b, registry) : undefined, registriesOf(c).includes(registry) ? registryView(c, registry) : undefined];
        for (const metric of REGISTRY_METRICS) metrics.push(row(name, metric, br, cr, { registry }, `registry "${registry}"`));
      }
    }
  }
  const counts: Record<Verdict, number> = { regressed: 0, improved: 0, unchanged: 0, inconclusive: 0, 'not comparable': 0 };
  for (const m of metrics) counts[m.verdict]++;
  const verdict: Verdict =
    counts.regressed > 0 ? 'regressed' : reasons.length > 0 ? 'not comparable' : counts.inconclusive > 0 ? 'inconclusive' : counts.improved > 0 ? 'improved' : 'unchanged';
  return {
    kind: 'pullbench.comparison',
    schemaVersion: 1,
    scenario: { baseline: baseline.scenario.name, current: current.scenario.name },
    baseline: { startedAt: baseline.startedAt, ...(options.files?.baseline ? { file: options.files.baseline } : {}) },
    current: { startedAt: current.startedAt, ...(options.files?.current ? { file: options.files.current } : {}) },
    verdict,
    reasons,
    specChanges: reasons.length === 0 ? specChanges(baseline.scenario.spec, current.scenario.spec) : [],
    metrics,
    environment,
    counts,
    resamples,
  };
}

