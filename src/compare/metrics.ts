import { PullbenchError } from '../errors.js';
import { percentileSorted } from '../measure/stats.js';
import { COMPARE_METRICS, type ArmResult, type CompareMetric, type MetricUnit } from '../results/index.js';

export { COMPARE_METRICS, type CompareMetric, type MetricUnit };

export interface MetricDefinition {
  id: CompareMetric;
  label: string;
  unit: MetricUnit;
  /** What one sample is: per pod (stratified by rollout step) or per repetition. */
  per: 'pod' | 'repetition';
  /** Computed on sorted samples. */
  statistic(sorted: readonly number[]): number;
  /** Default tolerance in percent of the baseline (percentage points for failureRate). */
  tolerance: number;
  /** Timing metrics need two samples a side before a difference can be told from noise. */
  noisy: boolean;
  /** Per repetition, per stratum (rollout step for pod metrics; a v1 rollout and a v2 update pull different bytes). */
  samples(arm: ArmResult): number[][][];
  /** Only some arms measure it (topology p2p); compared where either run's arm does. Default: every arm. */
  applies?(arm: ArmResult): boolean;
}

const median = (s: readonly number[]): number => percentileSorted(s, 50);
const p95 = (s: readonly number[]): number => percentileSorted(s, 95);
const mean = (s: readonly number[]): number => (s.length ? s.reduce((a, b) => a + b, 0) / s.length : Number.NaN);

type Pod = ArmResult['repetitions'][number]['pods'][number];

function byRollout(arm: ArmResult, value: (p: Pod) => number | undefined): number[][][] {
  return arm.repetitions.map((rep) => {
    const strata = new Map<string, number[]>();
    for (const p of rep.pods) {
      const v = value(p);
      if (v === undefined) continue;
      const list = strata.get(p.rollout);
      if (list) list.push(v);
      else strata.set(p.rollout, [v]);
    }
    return [...strata.values()];
  });
}
const pullMs = (arm: ArmResult): number[][][] => byRollout(arm, (p) => p.pullMs);
const waitingMs = (arm: ArmResult): number[][][] => byRollout(arm, (p) => (p.pullMs === undefined ? undefined : (p.pullWithWaitingMs ?? p.pullMs)));
const isP2p = (arm: ArmResult): boolean => arm.repetitions.some((r) => r.p2p);
const p2pRepetitions = (f: (p: NonNullable<ArmResult['repetitions'][number]['p2p']>, r: ArmResult['repetitions'][number]) => number) => (arm: ArmResult): number[][][] =>
  arm.repetitions.flatMap((r) => (r.p2p ? [[[f(r.p2p, r)]]] : []));
const perRepetition = (f: (r: ArmResult['repetitions'][number]) => number) => (arm: ArmResult): number[][][] => arm.repetitions.map((r) => [[f(r)]]);

export const METRICS: Record<CompareMetric, MetricDefinition> = {
  pullP50: { id: 'pullP50', label: 'pull p50', unit: 'ms', per: 'pod', statistic: median, tolerance: 25, noisy: true, samples: pullMs },
  pullP95: { id: 'pullP95', label: 'pull p95', unit: 'ms', per: 'pod', statistic: p95, tolerance: 35, noisy: true, samples: pullMs },
  pullWithWaitingP50: {
    id: 'pullWithWaitingP50', label: 'pull incl. waiting p50', unit: 'ms', per: 'pod', statistic: median, tolerance: 25, noisy: true, samples: waitingMs,
  },
  pullWithWaitingP95: {
    id: 'pullWithWaitingP95', label: 'pull incl. waiting p95', unit: 'ms', per: 'pod', statistic: p95, tolerance: 35, noisy: true, samples: waitingMs,
  },
  rolloutDuration: {
    id: 'rolloutDuration', label: 'rollout duration', unit: 'ms', per: 'repetition', statistic: mean, tolerance: 25, noisy: true,
    samples: perRepetition((r) => r.rolloutDurationMs),
  },
  failureRate: {
    id: 'failureRate', label: 'failure rate', unit: 'ratio', per: 'pod', statistic: mean, tolerance: 1, noisy: false,
    // 1 for a pod whose outcome was not the expected one, as the failure-rate gate counts.
    samples: (arm) => byRollout(arm, (p) => ((p.outcome !== 'ready') !== p.expectFailure ? 1 : 0)),
  },
  registryBytes: {
    id: 'registryBytes', label: 'bytes from registry', unit: 'bytes', per: 'repetition', statistic: mean, tolerance: 5, noisy: false,
    samples: perRepetition((r) => r.registry.bytesServed),
  },
  upstreamPulls: {
    id: 'upstreamPulls', label: 'upstream pulls', unit: 'count', per: 'repetition', statistic: mean, tolerance: 5, noisy: false,
    samples: perRepetition((r) => r.registry.manifestGet),
  },
  tooManyRequests: {
    id: 'tooManyRequests', label: '429s', unit: 'count', per: 'repetition', statistic: mean, tolerance: 5, noisy: false,
    samples: perRepetition((r) => r.registry.tooManyRequests + (r.mirror?.tooManyRequests ?? 0)),
  },
  // Topology p2p: the share of the pulled bytes that went back to the registry (percentage points, as failureRate).
  backToSourceRatio: {
    id: 'backToSourceRatio', label: 'back-to-source ratio', unit: 'ratio', per: 'repetition', statistic: mean, tolerance: 5, noisy: true, applies: isP2p,
    samples: p2pRepetitions((p, r) => {
      const pulled = r.registry.bytesServed + (r.linkBytes?.peers ?? p.peerBytes);
      return pulled > 0 ? r.registry.bytesServed / pulled : 0;
    }),
  },
  peerUploadMax: {
    id: 'peerUploadMax', label: 'largest node upload', unit: 'bytes', per: 'repetition', statistic: mean, tolerance: 25, noisy: true, applies: isP2p,
    samples: p2pRepetitions((p) => Math.max(0, ...p.uploadedByNode)),
  },
};

/** The metrics compared per pool as well: the ones measured on pods, which a pool's pods give on their own. */
export const POOL_METRICS: readonly CompareMetric[] = COMPARE_METRICS.filter((m) => METRICS[m].per === 'pod');
/** The metrics compared per registry as well: its and its mirror's counters. */
export const REGISTRY_METRICS: readonly CompareMetric[] = ['registryBytes', 'upstreamPulls', 'tooManyRequests'];

/** Tolerances in percent by metric; missing ones take the metric's default. */
export type Tolerances = Partial<Record<CompareMetric, number>>;

// Short names that set several metrics at once.
const ALIASES: Record<string, CompareMetric[]> = {
  pull: ['pullP50', 'pullP95'],
  pullWithWaiting: ['pullWithWaitingP50', 'pullWithWaitingP95'],
  '*': [...COMPARE_METRICS],
};

/**
 * Parses `metric=pct` options (`pullP95=30`, `pull=20%`, `*=10`); later ones
 * win. Every bad entry is reported at once.
 */
export function parseTolerances(entries: readonly string[]): Tolerances {
  const out: Tolerances = {};
  const problems: string[] = [];
  for (const entry of entries) {
    const m = /^([\w*]+)=(\d+(?:\.\d+)?)%?$/.exec(entry.trim());
    const targets = m ? (ALIASES[m[1]!] ?? ((COMPARE_METRICS as readonly string[]).includes(m[1]!) ? [m[1] as CompareMetric] : undefined)) : undefined;
    if (!m || !targets) {
      problems.push(`"${entry}": expected metric=percent with metric one of ${[...COMPARE_METRICS, ...Object.keys(ALIASES)].join(', ')}`);
      continue;
    }
    for (const t of targets) out[t] = Number(m[2]);
  }
  if (problems.length > 0) throw new PullbenchError('INVALID_ARGUMENT', `bad --tolerance: ${problems.join('; ')}`, { details: { problems } });
  return out;
}
