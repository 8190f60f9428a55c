/**
 * The comparison model: what `pullbench compare` (and `run --baseline`)
 * computes in src/compare/ and what the reports render. Types and metric ids only, so that
 * report/ reads a comparison without importing the code that makes one.
 */
import type { MetricUnit } from './format.js';

/** The metrics the regression gate compares, for every arm. Lower is better for all of them. */
export const COMPARE_METRICS = [
  'pullP50',
  'pullP95',
  'pullWithWaitingP50',
  'pullWithWaitingP95',
  'rolloutDuration',
  'failureRate',
  'registryBytes',
  'upstreamPulls',
  'tooManyRequests',
  'backToSourceRatio',
  'peerUploadMax',
] as const;
export type CompareMetric = (typeof COMPARE_METRICS)[number];

/** `inconclusive`: the change is there, but the busier machine of one side could explain it (see EnvironmentComparison). */
export type Verdict = 'regressed' | 'improved' | 'unchanged' | 'inconclusive' | 'not comparable';

/** How busy one run's machine was, as compare reads its recorded conditions. */
export interface MachineLoad {
  /** Cores' worth of CPU other processes used, on average over the run. */
  otherCores: number;
  stealShare: number;
  cores: number;
  /** otherCores plus the cores steal took: the machine the run did not have. */
  busyCores: number;
  loopDelayP99Ms: number;
  /** The larger 1-minute load average of the run's start and end. */
  loadAverage: number;
  source: '/proc/stat' | 'load average';
}

/** Whether one side ran on a busier machine; when one did, timing changes that all arms share are put down to it. */
export interface EnvironmentComparison {
  /** both busy: other work took half of each machine or more, so neither run is a quiet reference. */
  verdict: 'similar' | 'current busier' | 'baseline busier' | 'both busy' | 'unknown';
  baseline?: MachineLoad;
  current?: MachineLoad;
  /** The figures, in words. */
  reason: string;
  /** Per timing metric: the slowdown (current / baseline) every arm shared, taken as the machine's (1: none). */
  machineFactor?: Partial<Record<CompareMetric, number>>;
}

export interface MetricComparison {
  arm: string;
  /** The row is about one pool of the arm (its pods only), not the arm's total. */
  pool?: string;
  /** The row is about one registry of the arm (its and its mirror's counters only). */
  registry?: string;
  metric: CompareMetric;
  label: string;
  unit: MetricUnit;
  baseline?: number;
  current?: number;
  /** current - baseline. */
  delta?: number;
  /** delta / baseline (Infinity when the baseline is 0 and the current is not). */
  relative?: number;
  /** 95% bootstrap confidence interval of the difference. */
  ci?: { low: number; high: number };
  samples: { baseline: number; current: number };
  /** Percent of the baseline (percentage points for failureRate). */
  tolerance: number;
  verdict: Verdict;
  /** Why this verdict, in words. */
  reason: string;
}

export interface Comparison {
  kind: 'pullbench.comparison';
  schemaVersion: 1;
  scenario: { baseline: string; current: string };
  baseline: { startedAt: string; file?: string };
  current: { startedAt: string; file?: string };
  /** Overall: regressed if any metric regressed, else not comparable if the runs cannot be compared, else inconclusive, improved, unchanged. */
  verdict: Verdict;
  /** Why the runs cannot be compared at all (empty when they can). */
  reasons: string[];
  /** Scenario fields that differ between the runs (`links.registry.bandwidth: 50000000 -> 12500000`). */
  specChanges: string[];
  metrics: MetricComparison[];
  /** Which side ran on the busier machine (absent in comparisons from before it was recorded). */
  environment?: EnvironmentComparison;
  counts: Record<Verdict, number>;
  resamples: number;
}
