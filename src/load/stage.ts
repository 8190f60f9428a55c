import type { RegistryStats } from '../registry/stats.js';
import type { LoadProfile, LoadResult } from './types.js';

/** One storm of the scenario's `load:` stage against one image, in one repetition of an arm. */
export interface StormRun {
  /** The storm's name (load[i].name, default storm-<i+1>). */
  storm: string;
  /** What the storm hit: the scenario's registry, or the arm's mirror. */
  target: 'registry' | 'mirror';
  /** The scenario image ref it hammered, e.g. demo/app:v1. */
  image: string;
  result: LoadResult;
}

/** A storm row of an arm, averaged over the arm's repetitions (like the other per-arm counts). */
export interface StormAggregate {
  storm: string;
  target: 'registry' | 'mirror';
  image: string;
  profile: LoadProfile;
  connections: number;
  rate?: number;
  /** Repetitions this storm ran in. */
  runs: number;
  durationSeconds: number;
  requests: number;
  perSecond: number;
  bytes: number;
  /** Mean over repetitions of each repetition's percentile. */
  latencyMs: { p50: number; p90: number; p99: number };
  errors: number;
  timeouts: number;
  tooManyRequests: number;
  /** Non-2xx responses (429s included). */
  non2xx: number;
  /** Requests the storm sent by kind, to tell them apart from the rollout's in the registry's totals. */
  byKind: { manifestHead: number; manifestGet: number; blobGet: number; token: number };
}

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** Storm rows of one arm, one per storm and image, from its repetitions. Pure. */
export function aggregateStorms(repetitions: ReadonlyArray<{ load?: StormRun[] }>): StormAggregate[] {
  const groups = new Map<string, StormRun[]>();
  for (const rep of repetitions) {
    for (const run of rep.load ?? []) {
      const key = `${run.storm}\u0000${run.image}`;
      groups.set(key, [...(groups.get(key) ?? []), run]);
    }
  }
  return [...groups.values()].map((runs) => {
    const first = runs[0]!;
    const r = runs.map((x) => x.result);
    const kind = (k: keyof StormAggregate['byKind']): number => mean(r.map((x) => x.byKind[k]?.requests ?? 0));
    return {
      storm: first.storm,
      target: first.target,
      image: first.image,
      profile: first.result.profile,
      connections: first.result.connections,
      ...(first.result.rate !== undefined ? { rate: first.result.rate } : {}),
      runs: runs.length,
      durationSeconds: round(mean(r.map((x) => x.durationSeconds)), 2),
      requests: mean(r.map((x) => x.requests.total)),
      perSecond: round(mean(r.map((x) => x.requests.perSecond))),
      bytes: mean(r.map((x) => x.throughput.bytes)),
      latencyMs: { p50: round(mean(r.map((x) => x.latencyMs.p50)), 2), p90: round(mean(r.map((x) => x.latencyMs.p90)), 2), p99: round(mean(r.map((x) => x.latencyMs.p99)), 2) },
      errors: mean(r.map((x) => x.errors)),
      timeouts: mean(r.map((x) => x.timeouts)),
      tooManyRequests: mean(r.map((x) => x.tooManyRequests)),
      non2xx: mean(r.map((x) => Object.values(x.non2xx).reduce((a, b) => a + b, 0))),
      byKind: { manifestHead: kind('manifestHead'), manifestGet: kind('manifestGet'), blobGet: kind('blobGet'), token: kind('token') },
    };
  });
}

/** Requests the registry and mirror served per repetition (averaged), split by who sent them. */
export interface RequestShare {
  served: number;
  /** What the storms counted themselves. */
  storms: number;
  /** The rest: the rollout's (and the mirror's upstream fetches), plus at most the storms' in-flight requests when they stopped. */
  rollout: number;
}

const served = (s: RegistryStats | undefined): number => (s ? s.manifestHead + s.manifestGet + s.blobGet + s.blobHead + s.token : 0);

/** Splits what the servers counted into the storms' requests and the rollout's; undefined without storms. Pure. */
export function requestShare(repetitions: ReadonlyArray<{ registry: RegistryStats; mirror?: RegistryStats; load?: StormRun[] }>): RequestShare | undefined {
  const reps = repetitions.filter((r) => r.load && r.load.length > 0);
  if (reps.length === 0) return undefined;
  const total = mean(reps.map((r) => served(r.registry) + served(r.mirror)));
  const storms = mean(reps.map((r) => r.load!.reduce((a, l) => a + l.result.requests.total, 0)));
  return { served: total, storms, rollout: Math.max(0, total - storms) };
}

/** The columns of a storm row in the summary and the HTML report. */
export const STORM_COLUMNS = ['arm', 'storm', 'profile', 'target', 'image', 'requests', 'req/s', 'p50', 'p90', 'p99', 'errors', '429s', 'non-2xx'] as const;

/** One storm row as [sort value, text] cells, in STORM_COLUMNS order after the arm. Pure. */
export function stormCells(s: StormAggregate): Array<[number | undefined, string]> {
  const ms = (v: number): [number, string] => [v, `${round(v, 1)}ms`];
  const count = (v: number): [number, string] => [v, String(Math.round(v))];
  return [
    [undefined, s.storm], [undefined, s.profile], [undefined, s.target], [undefined, s.image],
    count(s.requests), [s.perSecond, String(s.perSecond)], ms(s.latencyMs.p50), ms(s.latencyMs.p90), ms(s.latencyMs.p99),
    count(s.errors), count(s.tooManyRequests), count(s.non2xx),
  ];
}

/** How to read the storm rows. */
export const STORM_NOTE = "storms beside each rollout, per repetition averaged; the registry's and mirror's request counts include the storms' requests";

/** The `load:` stage lines of the `pullbench run` summary; empty when no arm ran a storm. Pure. */
export function renderStorms(
  arms: ReadonlyArray<{ arm: { name: string }; aggregate: { load?: StormAggregate[] }; repetitions: ReadonlyArray<{ registry: RegistryStats; mirror?: RegistryStats; load?: StormRun[] }> }>,
): string[] {
  const rows = arms.flatMap((a) => (a.aggregate.load ?? []).map((s) => [a.arm.name, ...stormCells(s).map(([, text]) => text)]));
  if (rows.length === 0) return [];
  const shares = arms.flatMap((a) => {
    const share = requestShare(a.repetitions);
    return share ? [`  ${a.arm.name}: registry and mirror served ${Math.round(share.served)} requests per repetition: storms ${Math.round(share.storms)}, rollout ${Math.round(share.rollout)}`] : [];
  });
  const head = [...STORM_COLUMNS];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 5 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [`load stage (${STORM_NOTE}):`, line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), ...shares];
}
