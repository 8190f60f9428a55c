import { requestShare } from '../../load/stage.js';
import { percentileSorted } from '../../measure/stats.js';
import type { ArmResult, Comparison, RunResults } from '../../results/index.js';
import { bytesChartLabels } from './emulation.js';

/** Five numbers of a box plot, computed from the samples (true median, type-7 quartiles). */
export interface Box {
  min: number;
  q1: number;
  median: number;
  q3: number;
  max: number;
  n: number;
}

export interface WaterfallRow {
  pod: string;
  node: string;
  /** ms since the first pod of the repetition was created. */
  waiting: [number, number];
  pulling?: [number, number];
  starting?: [number, number];
  outcome: string;
}

/** What the page's charts draw, per arm; serialised into the page. */
export interface ChartArm {
  name: string;
  box?: Box;
  /** Sorted pull times, for the CDF (y = (i + 1) / n). */
  pulls: number[];
  bytes: { registry: number; mirror: number; nodeCache: number; peers?: number };
  /** Topology p2p: bytes each node uploaded to its peers (the repetitions pooled), as a box. */
  uploads?: Box;
  requests: { upstreamPulls: number; registryBlobGet: number; mirrorManifestGet: number; mirrorBlobGet: number; tooManyRequests: number };
  waterfall: WaterfallRow[];
  /** With cluster.pools: each pool's pull p50 and p95 (absent where the pool pulled nothing). */
  pools?: Array<{ name: string; p50?: number; p95?: number }>;
  /** The load stage: requests the servers counted per repetition, the rollout's and each storm's. */
  load?: { rollout: number; storms: Array<{ name: string; requests: number }> };
}

export interface ReportModel {
  title: string;
  arms: ChartArm[];
  baselineArms: ChartArm[];
  /** The byte chart's axis title, and its chart title when the run was byte-scaled. */
  bytesChart: { axis: string; title?: string };
}

function box(sorted: number[]): Box | undefined {
  if (sorted.length === 0) return undefined;
  return {
    min: sorted[0]!,
    q1: percentileSorted(sorted, 25),
    median: percentileSorted(sorted, 50),
    q3: percentileSorted(sorted, 75),
    max: sorted[sorted.length - 1]!,
    n: sorted.length,
  };
}

// The first repetition only: pods of different repetitions do not share a clock origin.
function waterfall(arm: ArmResult): WaterfallRow[] {
  const rep = arm.repetitions[0];
  if (!rep || rep.pods.length === 0) return [];
  // A loop, not Math.min(...pods): a spread of 500,000 arguments overflows the stack (a 50,000-node model run).
  const t0 = rep.pods.reduce((min, p) => Math.min(min, p.createdAt), Infinity);
  return rep.pods.map((p) => {
    const pullStart = p.pullStartedAt ?? p.pulledAt ?? p.startedAt ?? p.readyAt ?? p.createdAt;
    const row: WaterfallRow = { pod: p.name, node: p.node ?? '-', waiting: [p.createdAt - t0, pullStart - t0], outcome: p.outcome };
    if (p.pulledAt !== undefined && p.pullStartedAt !== undefined) row.pulling = [p.pullStartedAt - t0, p.pulledAt - t0];
    const ready = p.readyAt ?? p.startedAt;
    const from = p.pulledAt ?? pullStart;
    if (ready !== undefined) row.starting = [from - t0, Math.max(from, ready) - t0];
    return row;
  });
}

function uploadBox(uploads: number[] | undefined): Pick<ChartArm, 'uploads'> {
  const b = uploads ? box([...uploads].sort((x, y) => x - y)) : undefined;
  return b ? { uploads: b } : {};
}

function loadShare(arm: ArmResult): Pick<ChartArm, 'load'> {
  const share = requestShare(arm.repetitions);
  if (!share || !arm.aggregate.load) return {};
  return { load: { rollout: share.rollout, storms: arm.aggregate.load.map((s) => ({ name: `${s.storm} (${s.image})`, requests: s.requests })) } };
}

export function chartArm(arm: ArmResult): ChartArm {
  const pulls = arm.repetitions.flatMap((r) => r.pods).flatMap((p) => (p.pullMs === undefined ? [] : [p.pullMs])).sort((a, b) => a - b);
  const a = arm.aggregate;
  const b = box(pulls);
  return {
    name: arm.arm.name,
    ...(b ? { box: b } : {}),
    pulls,
    bytes: { ...a.bytes },
    requests: {
      upstreamPulls: a.upstreamPulls,
      registryBlobGet: a.requests.registryBlobGet,
      mirrorManifestGet: a.requests.mirrorManifestGet,
      mirrorBlobGet: a.requests.mirrorBlobGet,
      tooManyRequests: a.tooManyRequests,
    },
    waterfall: waterfall(arm),
    ...(a.byPool ? { pools: Object.entries(a.byPool).map(([name, p]) => ({ name, ...(p.pull ? { p50: p.pull.p50, p95: p.pull.p95 } : {}) })) } : {}),
    ...loadShare(arm),
    ...uploadBox(a.p2p?.uploads),
  };
}

export function reportModel(results: RunResults, baseline?: RunResults): ReportModel {
  return { title: results.scenario.name, arms: results.arms.map(chartArm), baselineArms: baseline ? baseline.arms.map(chartArm) : [], bytesChart: bytesChartLabels(results) };
}

/** Arms ranked by pull p50 (arms without pulls last), for the headline. */
export function rankArms(results: RunResults): ArmResult[] {
  const key = (a: ArmResult): number => a.aggregate.pull?.p50 ?? Number.POSITIVE_INFINITY;
  return [...results.arms].sort((x, y) => key(x) - key(y));
}

export type { Comparison };
