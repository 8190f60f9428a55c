import { bootstrapDifference, pooled, seedOf, type Samples } from '../measure/bootstrap.js';
import { percentileSorted } from '../measure/stats.js';
import type { ArmResult, RunResults } from './model.js';

/**
 * The headline's claim: which arms are faster, told apart only where the data can.
 * Arms are sorted by their median; an arm joins the tier of the arm before it unless it
 * is slower by a difference whose 95% bootstrap interval (over repetitions, then pods;
 * src/measure/bootstrap.ts) excludes zero and that is at least MIN_PRACTICAL of the
 * faster arm's value. Arms that did identical work (same GETs, same bytes served) always
 * share a tier: what differs between them is the machine, not the arm.
 */
export interface Headline {
  /** pull p50 when every arm pulled; rollout time when some arm pulled nothing (a warm cache). */
  metric: 'pull p50' | 'rollout';
  /** Fastest first; the arms of one tier tie. */
  tiers: HeadlineTier[];
  /** Groups of arms (two or more) that did identical work. */
  identicalWork: string[][];
  repetitions: number;
}

export interface HeadlineTier {
  arms: { name: string; value: number }[];
}

/** A difference smaller than this share of the faster arm is not called a win, however steady. */
export const MIN_PRACTICAL = 0.05;

type Pod = ArmResult['repetitions'][number]['pods'][number];

function samplesOf(arm: ArmResult, metric: Headline['metric']): Samples {
  if (metric === 'rollout') return arm.repetitions.map((r) => [[r.rolloutDurationMs]]);
  return arm.repetitions.map((rep) => {
    const strata = new Map<string, number[]>();
    for (const p of rep.pods as Pod[]) {
      if (p.pullMs === undefined) continue;
      const stratum = strata.get(p.rollout);
      if (stratum) stratum.push(p.pullMs);
      else strata.set(p.rollout, [p.pullMs]);
    }
    return [...strata.values()];
  });
}

const median = (sorted: readonly number[]): number => percentileSorted(sorted, 50);

// GETs and bytes served, per repetition: HEADs are resolution chatter (Always HEADs a tag IfNotPresent trusts).
function work(arm: ArmResult): number[] {
  const a = arm.aggregate;
  return [a.pods, a.requests.registryManifestGet, a.requests.registryBlobGet, a.requests.mirrorManifestGet, a.requests.mirrorBlobGet, a.bytes.registry, a.bytes.mirror];
}

function sameWork(x: ArmResult, y: ArmResult): boolean {
  const a = work(x);
  const b = work(y);
  return a.every((v, i) => Math.abs(v - b[i]!) <= Math.max(0.5, 0.005 * Math.max(v, b[i]!)));
}

/** Ranks the arms of a run into tiers that the repetitions can tell apart. */
export function headlineOf(results: RunResults): Headline {
  const arms = results.arms.filter((a) => a.repetitions.length > 0 && a.aggregate.pods > 0);
  const metric: Headline['metric'] = arms.every((a) => a.aggregate.pull) ? 'pull p50' : 'rollout';
  const rated = arms
    .map((arm) => ({ arm, samples: samplesOf(arm, metric) }))
    .map((x) => ({ ...x, value: median(pooled(x.samples)) }))
    .filter((x) => Number.isFinite(x.value))
    .sort((p, q) => p.value - q.value);
  const identicalWork: string[][] = [];
  for (const x of rated) {
    const group = identicalWork.find((g) => sameWork(rated.find((r) => r.arm.arm.name === g[0])!.arm, x.arm));
    if (group) group.push(x.arm.arm.name);
    else identicalWork.push([x.arm.arm.name]);
  }
  const tiers: (typeof rated)[] = [];
  for (const x of rated) {
    const twin = tiers.find((t) => t.some((y) => sameWork(y.arm, x.arm)));
    const tier = twin ?? tiers[tiers.length - 1];
    if (tier && (twin || !clearlySlower(tier[0]!, x, metric))) tier.push(x);
    else tiers.push([x]);
  }
  return {
    metric,
    tiers: tiers.map((t) => ({ arms: t.map((x) => ({ name: x.arm.arm.name, value: x.value })) })),
    identicalWork: identicalWork.filter((g) => g.length > 1),
    repetitions: Math.min(...arms.map((a) => a.repetitions.length)),
  };
}

function clearlySlower(fast: { arm: ArmResult; samples: Samples; value: number }, slow: { arm: ArmResult; samples: Samples; value: number }, metric: string): boolean {
  if (slow.value - fast.value < MIN_PRACTICAL * fast.value) return false;
  const ci = bootstrapDifference(fast.samples, slow.samples, median, { seed: seedOf(`${fast.arm.arm.name}|${slow.arm.arm.name}|${metric}`) });
  return ci.low > 0;
}

/** The headline as one plain sentence (the summary prints it; the HTML report marks it up). */
export function headlineText(h: Headline, fmt: (ms: number) => string): string {
  const names = (t: HeadlineTier): string => t.arms.map((a) => a.name).join(', ');
  const same = h.identicalWork.length > 0 ? ` ${h.identicalWork.map((g) => g.join(' and ')).join('; ')} did identical work (same GETs and bytes), so any gap between them is the machine.` : '';
  const over = `${h.repetitions} repetition${h.repetitions === 1 ? '' : 's'}`;
  if (h.tiers.length === 0) return 'No arm has a measurement to rank.';
  if (h.tiers.length === 1) {
    return `The arms tie on ${h.metric}: no difference stands out of the spread over ${over} (95% bootstrap).${same}`;
  }
  const [first, second] = h.tiers as [HeadlineTier, HeadlineTier];
  const lead = first.arms[0]!.value;
  const ratio = lead > 0 ? ` (${(second.arms[0]!.value / lead).toFixed(2)}x)` : '';
  const who = first.arms.length === 1 ? `${names(first)} is fastest on ${h.metric} (${fmt(lead)})` : `${names(first)} tie for fastest on ${h.metric} (${fmt(lead)})`;
  return `${who}, ahead of ${names(second)}${ratio} beyond the spread over ${over} (95% bootstrap).${same}`;
}
