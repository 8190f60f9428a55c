import { aggregateStorms } from '../load/stage.js';
import { PULL_CAUSES } from '../measure/pull-cause.js';
import { failuresByCause, recoveryMs } from '../measure/recovery.js';
import { aggregateUsage } from '../measure/usage.js';
import { distribution, meanWithCi } from '../measure/stats.js';
import { emptyStats, type RegistryStats } from '../registry/stats.js';
import type { ArmAggregate, P2pAggregate, PoolAggregate, RegistryAggregate, Repetition } from './model.js';

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/**
 * Image bytes the pods got without them crossing a link: the image of every pod that got
 * it (already present, or pulled), less what the links carried down to the nodes. So a
 * warm node counts the same under every policy: IfNotPresent finds the image present,
 * Always resolves the tag again and finds every layer in the content store, and only the
 * manifests it fetched again are not the cache's. Without link counts (a real cluster
 * without shaped links), the bytes the nodes' first hop served stand in.
 */
function nodeCacheBytes(r: Repetition, imageBytes: (image: string) => number): number {
  const needed = r.pods.filter((p) => p.alreadyPresent || p.pullMs !== undefined).reduce((a, p) => a + imageBytes(p.image), 0);
  const carried = r.linkBytes && r.linkBytes.registry + r.linkBytes.mirror > 0 ? r.linkBytes.registry + r.linkBytes.mirror : (r.mirror ?? r.registry).bytesServed;
  return Math.max(0, needed - carried);
}

type PodFigures = Pick<ArmAggregate, 'pods' | 'alreadyPresent' | 'failures' | 'pull' | 'pullWithWaiting' | 'pullMean'>;

// The figures of a set of pods (an arm's, or one pool's), pooled over repetitions.
function podFigures(repetitions: Repetition['pods'][]): PodFigures {
  const pods = repetitions.flat();
  const pulled = pods.filter((p) => p.pullMs !== undefined);
  const failed = pods.filter((p) => p.outcome !== 'ready');
  const byReason: Record<string, number> = {};
  for (const p of failed) byReason[p.failureReason ?? 'NotReady'] = (byReason[p.failureReason ?? 'NotReady'] ?? 0) + 1;
  // A pod meant to fail that started anyway is a failure of the scenario too.
  const unexpected = pods.filter((p) => (p.outcome !== 'ready') !== p.expectFailure).length;
  const repMeans = repetitions.map((r) => r.filter((p) => p.pullMs !== undefined).map((p) => p.pullMs!)).filter((xs) => xs.length > 0).map(mean);
  // Failed attempts by cause, per repetition (averaged, as the request counts are).
  const causes = repetitions.map((r) => failuresByCause(r));
  const byCause = Object.fromEntries(PULL_CAUSES.map((c) => [c, mean(causes.map((x) => x[c]))]));
  const out: PodFigures = {
    pods: pods.length,
    alreadyPresent: pods.filter((p) => p.alreadyPresent).length,
    failures: { total: failed.length, unexpected, byReason, rate: pods.length ? unexpected / pods.length : 0, byCause },
  };
  const pull = distribution(pulled.map((p) => p.pullMs!));
  const pullWithWaiting = distribution(pulled.map((p) => p.pullWithWaitingMs ?? p.pullMs!));
  const pullMean = meanWithCi(repMeans);
  if (pull) out.pull = pull;
  if (pullWithWaiting) out.pullWithWaiting = pullWithWaiting;
  if (pullMean) out.pullMean = pullMean;
  return out;
}

// The registry-side figures of one registry and its mirror (or of all of them added up), averaged over repetitions.
function serverFigures(servers: { registry: RegistryStats; mirror?: RegistryStats | undefined }[]): RegistryAggregate {
  const stat = (f: (s: RegistryStats) => number | undefined, which: 'registry' | 'mirror'): number =>
    mean(servers.map((r) => (which === 'registry' ? f(r.registry) : r.mirror ? f(r.mirror) : 0) ?? 0));
  const mirrorBlobGets = stat((s) => s.blobGet, 'mirror');
  const mirrorUpstreamBlobGets = stat((s) => s.upstreamBlobGet, 'mirror');
  const out: RegistryAggregate = {
    bytes: { registry: stat((s) => s.bytesServed, 'registry'), mirror: stat((s) => s.bytesServed, 'mirror') },

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
  if (servers.some((r) => r.mirror) && mirrorBlobGets > 0) out.mirrorHitRatio = Math.max(0, 1 - mirrorUpstreamBlobGets / mirrorBlobGets);
  return out;
}

/** Aggregates of one arm, computed once from its repetitions: in total, and per pool and per registry where the run recorded them. */
export function aggregateArm(repetitions: Repetition[], imageBytes: (image: string) => number): ArmAggregate {
  const servers = serverFigures(repetitions);
  const aggregate: ArmAggregate = {
    ...podFigures(repetitions.map((r) => r.pods)),
    bytes: {
      ...servers.bytes,
      nodeCache: mean(repetitions.map((r) => nodeCacheBytes(r, imageBytes))),
    },
    requests: servers.requests,
    upstreamPulls: servers.upstreamPulls,
    tooManyRequests: servers.tooManyRequests,
  };
  const rolloutDuration = meanWithCi(repetitions.map((r) => r.rolloutDurationMs));
  if (rolloutDuration) aggregate.rolloutDuration = rolloutDuration;
  const usage = aggregateUsage(repetitions.flatMap((r) => (r.usage ? [r.usage] : [])));
  if (usage) aggregate.usage = usage;
  if (repetitions.some((r) => r.load)) aggregate.load = aggregateStorms(repetitions);
  const faulted = repetitions.filter((r) => (r.faults?.windows.length ?? 0) > 0);
  if (faulted.length > 0) {
    const each = faulted.map((r) => recoveryMs(r.pods, r.faults!.windows.map((w) => w.endedAt)));
    const recovered = each.filter((x): x is number => x !== undefined);
    const ci = meanWithCi(recovered);
    aggregate.recovery = { ...(ci ? { ms: ci } : {}), perRepetition: each.map((x) => x ?? null), notRecovered: each.length - recovered.length };
  }
  if (servers.mirrorHitRatio !== undefined) aggregate.mirrorHitRatio = servers.mirrorHitRatio;
  if (repetitions.some((r) => r.linkBytes?.peers !== undefined)) aggregate.bytes.peers = mean(repetitions.map((r) => r.linkBytes?.peers ?? 0));
  const p2p = aggregateP2p(repetitions);
  if (p2p) aggregate.p2p = p2p;
  const pools = repetitions[0]?.pools;
  if (pools) {
    aggregate.byPool = Object.fromEntries(Object.entries(pools).map(([name, { nodes }]): [string, PoolAggregate] => [name, {
      nodes,
      ...podFigures(repetitions.map((r) => r.pods.filter((p) => p.pool === name))),
      linkBytes: {
        registry: mean(repetitions.map((r) => r.pools?.[name]?.linkBytes.registry ?? 0)),
        mirror: mean(repetitions.map((r) => r.pools?.[name]?.linkBytes.mirror ?? 0)),
      },
    }]));
  }
  const registries = repetitions[0]?.registries;
  if (registries) {
    aggregate.byRegistry = Object.fromEntries(Object.keys(registries).map((name) => [name, serverFigures(repetitions.map((r) => r.registries?.[name] ?? { registry: emptyStats(false) }))]));
  }
  return aggregate;
}

/** A p2p arm's ratios and upload spread; the registry's bytes are what the nodes took back to the source. */
function aggregateP2p(repetitions: Repetition[]): P2pAggregate | undefined {
  const reps = repetitions.filter((r) => r.p2p);
  const first = reps[0]?.p2p;
  if (!first) return undefined;
  const ratio = (num: number, den: number): number => (den > 0 ? num / den : 0);
  const uploads = reps.flatMap((r) => r.p2p!.uploadedByNode);
  const sorted = [...uploads].sort((a, b) => a - b);
  const fallbacks = { ...first.fallbacks };
  for (const k of Object.keys(fallbacks) as (keyof typeof fallbacks)[]) fallbacks[k] = mean(reps.map((r) => r.p2p!.fallbacks[k]));
  return {
    mode: first.mode,
    backToSourceRatio: mean(reps.map((r) => ratio(r.registry.bytesServed, r.registry.bytesServed + (r.linkBytes?.peers ?? r.p2p!.peerBytes)))),
    peerHitRatio: mean(reps.map((r) => ratio(r.p2p!.fromPeers, r.p2p!.wanted))),
    uploadP50: sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)]! : 0,
    uploadMax: sorted.length ? sorted[sorted.length - 1]! : 0,
    uploads,
    fallbacks,
    backToSourcePeers: mean(reps.map((r) => r.p2p!.backToSourcePeers)),
  };
}
