import { aggregateStorms, type StormAggregate, type StormRun } from '../load/stage.js';
import type { PodTimeline } from '../measure/timeline.js';
import { aggregateUsage, type ProcessUsage, type UsageAggregate } from '../measure/usage.js';
import { distribution, meanWithCi, percentileSorted, type Distribution, type MeanWithCi } from '../measure/stats.js';
import type { RegistryStats } from '../registry/stats.js';
import { armMatches, type Arm } from '../scenario/matrix.js';
import type { Metric, Scenario } from '../scenario/schema.js';
import type { CacheStats } from '../supply-chain/cache.js';
import type { RuleResult } from '../supply-chain/policy.js';
import type { SignFormat } from '../supply-chain/sign.js';
import type { EnvironmentInfo } from '../util/environment.js';
import { formatMs } from '../util/units.js';

/** Bumped on any incompatible change of the results file. */
export const RESULTS_SCHEMA_VERSION = 1;

/** What one repetition of one arm measured, straight from the run. */
export interface Repetition {
  index: number;
  startedAt: number;
  /** From the first pod created to the last step settled. */
  rolloutDurationMs: number;
  steps: { name: string; durationMs: number; completed: boolean; timedOut: boolean; failedFast?: { cause: string; message: string } }[];
  pods: PodTimeline[];
  registry: RegistryStats;
  mirror?: RegistryStats;
  /** Bytes the shaped links carried down to the nodes, by source. */
  linkBytes?: { registry: number; mirror: number };
  /** Warm arms: every node held every image before the rollout (checked, not assumed). */
  cacheVerified?: boolean;
  /** Emulated clusters: what the pullbench process spent during the rollout (CPU, memory, event loop), and its share per node. */
  usage?: ProcessUsage;
  /** The scenario's load: stage: what each storm sent beside the rollout (registry/mirror stats above include it). */
  load?: StormRun[];
}

export interface ArmResult {
  arm: Arm;
  repetitions: Repetition[];
  aggregate: ArmAggregate;
}

export interface ArmAggregate {
  pods: number;
  /** Pods with a pull (not already present), pooled over repetitions. */
  pull?: Distribution;
  pullWithWaiting?: Distribution;
  /** Mean over repetitions of the per-repetition mean pull time, with its 95% CI. */
  pullMean?: MeanWithCi;
  rolloutDuration?: MeanWithCi;
  alreadyPresent: number;
  failures: { total: number; unexpected: number; byReason: Record<string, number>; rate: number };
  /** Per repetition, averaged. */
  bytes: { registry: number; mirror: number; nodeCache: number };
  requests: { registryManifestGet: number; registryManifestHead: number; registryBlobGet: number; mirrorManifestGet: number; mirrorBlobGet: number };
  /** Manifest GETs that reached the registry, as Docker Hub counts pulls (per repetition, averaged). */
  upstreamPulls: number;
  tooManyRequests: number;
  /** Share of blob requests the mirror served from its cache. */
  mirrorHitRatio?: number;
  /** Emulated clusters: process CPU and memory during the rollouts, per node (see src/measure/usage.ts for what is measured). */
  usage?: UsageAggregate;
  /** The load: stage, one row per storm and image, when the arm ran storms. */
  load?: StormAggregate[];
}

export interface ThresholdResult {
  arm: string;
  metric: Metric;
  percentile?: number;
  max: number;
  actual: number | undefined;
  passed: boolean;
  /** Stable across runs, e.g. `IfNotPresent/mirror/cold pull p95 <= 5.00s` (JUnit testcase name). */
  name: string;
  /** e.g. `IfNotPresent/mirror/cold pull p95 1.2s <= 5s` */
  description: string;
}

/** One verify-stage decision, per scenario image a rollout uses. */
export interface SupplyChainImage {
  /** The scenario ref, e.g. demo/app:v1. */
  image: string;
  digest?: string;
  decision: 'allow' | 'deny' | 'warn';
  /** Rolled out: allow, warn, or any decision under mode warn. */
  admitted: boolean;
  /** The reason of every rule that did not pass (or of the passing ones when all passed). */
  reasons: string[];
  rules: RuleResult[];
  /** The authority whose signature check passed, e.g. `scenario-key/signing`. */
  signer?: string;
  /** Every rollout of this image has `expect: failure`: a denial is what the scenario wants. */
  expectDenial: boolean;
  /** Signed by this run's signing stage. */
  signed?: { format: SignFormat; keyId: string };
}

/** The results file's `supplyChain` block. */
export interface SupplyChainResult {
  mode: 'enforce' | 'warn';
  signing?: { format: SignFormat; key: 'given' | 'generated'; keyId: string; images: string[] };
  images: SupplyChainImage[];
  cache: CacheStats;
  durationMs: number;
}

export interface RunResults {
  schemaVersion: typeof RESULTS_SCHEMA_VERSION;
  kind: 'pullbench.results';
  scenario: { name: string; file: string; spec: unknown };
  startedAt: string;
  finishedAt: string;
  environment: EnvironmentInfo & { registry: string; mirror?: string; cluster: Record<string, string> };
  arms: ArmResult[];
  thresholds: ThresholdResult[];
  gate: { failureRate: number; max: number; passed: boolean };
  /** The signing and verify stages, when the scenario has them. */
  supplyChain?: SupplyChainResult;
  /** Driver model: the run was modelled in virtual time, not emulated; with the calibration it used (docs/model.md). */
  model?: ModelledRun;
  /** scale.bytes: layers and link bandwidths were scaled by this factor; byte counts in this file are as measured (scaled). */
  scale?: { bytes: number; byteCounts: 'measured' };
  passed: boolean;
}

/** How a modelled run was made: its clock, its network model and the server calibration (src/model/calibration.ts). */
export interface ModelledRun {
  clock: 'virtual';
  network: 'max-min fair flows';
  calibration: {
    measuredAt: string;
    method: string;
    machine: Record<string, string | number>;
    registry: { serviceMs: number; concurrency: number; egressBytesPerMs: number };
    mirror: { serviceMs: number; concurrency: number; egressBytesPerMs: number };
  };
}

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** Aggregates of one arm, computed once from its repetitions. */
export function aggregateArm(repetitions: Repetition[], imageBytes: (image: string) => number): ArmAggregate {
  const pods = repetitions.flatMap((r) => r.pods);
  const pulled = pods.filter((p) => p.pullMs !== undefined);
  const failed = pods.filter((p) => p.outcome !== 'ready');
  const byReason: Record<string, number> = {};
  for (const p of failed) byReason[p.failureReason ?? 'NotReady'] = (byReason[p.failureReason ?? 'NotReady'] ?? 0) + 1;
  // A pod meant to fail that started anyway is a failure of the scenario too.
  const unexpected = pods.filter((p) => (p.outcome !== 'ready') !== p.expectFailure).length;
  const repMeans = repetitions.map((r) => r.pods.filter((p) => p.pullMs !== undefined).map((p) => p.pullMs!)).filter((xs) => xs.length > 0).map(mean);
  const stat = (f: (s: RegistryStats) => number | undefined, which: 'registry' | 'mirror'): number =>
    mean(repetitions.map((r) => (which === 'registry' ? f(r.registry) : r.mirror ? f(r.mirror) : 0) ?? 0));
  const mirrorBlobGets = stat((s) => s.blobGet, 'mirror');
  const mirrorUpstreamBlobGets = stat((s) => s.upstreamBlobGet, 'mirror');
  const aggregate: ArmAggregate = {
    pods: pods.length,
    alreadyPresent: pods.filter((p) => p.alreadyPresent).length,
    failures: { total: failed.length, unexpected, byReason, rate: pods.length ? unexpected / pods.length : 0 },
    bytes: {
      registry: stat((s) => s.bytesServed, 'registry'),
      mirror: stat((s) => s.bytesServed, 'mirror'),
      nodeCache: mean(repetitions.map((r) => r.pods.filter((p) => p.alreadyPresent).reduce((a, p) => a + imageBytes(p.image), 0))),
    },
    requests: {
      registryManifestGet: stat((s) => s.manifestGet, 'registry'),
      registryManifestHead: stat((s) => s.manifestHead, 'registry'),
      registryBlobGet: stat((s) => s.blobGet, 'registry'),
      mirrorManifestGet: stat((s) => s.manifestGet, 'mirror'),
      mirrorBlobGet: mirrorBlobGets,
    },
    upstreamPulls: stat((s) => s.manifestGet, 'registry'),
    tooManyRequests: stat((s) => s.tooManyRequests, 'registry') + stat((s) => s.tooManyRequests, 'mirror'),
  };
  const pull = distribution(pulled.map((p) => p.pullMs!));
  const pullWithWaiting = distribution(pulled.map((p) => p.pullWithWaitingMs ?? p.pullMs!));
  const pullMean = meanWithCi(repMeans);
  const rolloutDuration = meanWithCi(repetitions.map((r) => r.rolloutDurationMs));
  if (pull) aggregate.pull = pull;
  if (pullWithWaiting) aggregate.pullWithWaiting = pullWithWaiting;
  if (pullMean) aggregate.pullMean = pullMean;
  if (rolloutDuration) aggregate.rolloutDuration = rolloutDuration;
  const usage = aggregateUsage(repetitions.flatMap((r) => (r.usage ? [r.usage] : [])));
  if (usage) aggregate.usage = usage;
  if (repetitions.some((r) => r.load)) aggregate.load = aggregateStorms(repetitions);
  if (repetitions.some((r) => r.mirror) && mirrorBlobGets > 0) aggregate.mirrorHitRatio = Math.max(0, 1 - mirrorUpstreamBlobGets / mirrorBlobGets);
  return aggregate;
}

function metricValue(arm: ArmResult, metric: Metric, percentile: number): number | undefined {
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
  }
}

function formatValue(metric: Metric, v: number | undefined): string {
  if (v === undefined) return 'no data';
  if (metric === 'pull' || metric === 'pullWithWaiting' || metric === 'rolloutDuration') return formatMs(v);
  if (metric === 'failureRate') return `${(v * 100).toFixed(1)}%`;
  return `${Math.round(v)}`;
}

/** Every threshold against every arm it selects. An arm without data fails its threshold. */
export function evaluateThresholds(scenario: Pick<Scenario, 'thresholds'>, arms: ArmResult[]): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const t of scenario.thresholds) {
    const pct = t.percentile ?? 95;
    for (const arm of arms.filter((a) => armMatches(t.arm, a.arm.name))) {
      const actual = metricValue(arm, t.metric, pct);
      const passed = actual !== undefined && actual <= t.max;
      const label = t.metric === 'pull' || t.metric === 'pullWithWaiting' ? `${t.metric} p${pct}` : t.metric;
      out.push({
        arm: arm.arm.name, metric: t.metric, ...(t.metric === 'pull' || t.metric === 'pullWithWaiting' ? { percentile: pct } : {}),
        max: t.max, actual, passed,
        name: `${arm.arm.name} ${label} <= ${formatValue(t.metric, t.max)}`,
        description: `${arm.arm.name} ${label} ${formatValue(t.metric, actual)} ${passed ? '<=' : '>'} ${formatValue(t.metric, t.max)}`,
      });
    }
  }
  return out;
}

