import type { RunEventSink } from '../core/progress.js';
import type { Cluster, LinkBytes } from '../cluster/cluster.js';
import { realClock } from '../core/clock.js';
import { buildTimelines } from '../measure/timeline.js';
import type { UsageSampler } from '../measure/usage.js';
import type { StartedRegistry } from '../registry/provider.js';
import { sumStats } from '../registry/stats.js';
import type { Repetition } from '../results/index.js';
import { runRollouts } from '../rollout/engine.js';
import type { Arm } from '../scenario/matrix.js';
import type { RolloutSection, Scenario } from '../scenario/schema.js';
import type { FaultSchedule } from './fault-stage.js';
import { LoadStage } from './load-stage.js';
import type { RunRegistries } from './registry-stage.js';
import { deniedPods, type Admission } from './verify-stage.js';

export const NAMESPACE = 'pullbench';

export interface MeasureStageInput {
  scenario: Scenario;
  arm: Arm;
  cluster: Cluster;
  registries: RunRegistries;
  /** The arm's mirrors, by registry name. */
  mirrors?: ReadonlyMap<string, StartedRegistry>;
  /** The rollouts to run (the admitted ones when the scenario verifies). */
  rollouts: RolloutSection[];
  /** A scenario image as pods name it (`<host>/<ref>`). */
  imageRef: (ref: string) => string;
  /** Emulated clusters: the process usage sampler, started before the nodes. */
  sampler?: UsageSampler;
  /** The fault fronts (or a real cluster's container faults), armed as the rollout starts. */
  faults?: FaultSchedule;
  progress: RunEventSink;
  /** Aborted on Ctrl-C: the rollout stops. */
  signal?: AbortSignal;
}

/** What the measured rollout produced, before it is read into a repetition. */
export interface Measured {
  /** When the rollout started (ms since the epoch). */
  startedAt: number;
  rolloutDurationMs: number;
  steps: Repetition['steps'];
  linkBytes: LinkBytes;
  /** The same, of each pool's nodes. */
  poolLinkBytes: Record<string, LinkBytes>;

  usage?: Repetition['usage'];
  load?: Repetition['load'];
  faults?: Repetition['faults'];
}

/**
 * Stage `measure`: the scenario's storms (if any) beside the rollouts, with
 * the registries' counters and the links' byte counts reset or read around
 * them, so that what came before (pre-pulls, storm lookups) is not counted.
 */
export async function measureStage({ scenario, arm, cluster, registries, mirrors, rollouts, imageRef, sampler, faults, progress, signal }: MeasureStageInput): Promise<Measured> {
  const servers = [...registries.list.map((r) => r.registry), ...(mirrors?.values() ?? [])];
  // Registries counted from their log (docker-registry) answer before they log: their counts wait for the log.
  const statsCaughtUp = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.statsCaughtUp?.()));
  };
  const first = registries.list[0]!;
  const byName = new Map(registries.list.map((r) => {
    const mirror = mirrors?.get(r.spec.name);
    return [r.spec.name, { registry: r.registry, ...(mirror ? { mirror } : {}) }];
  }));
  const firstMirror = mirrors?.get(first.spec.name);
  // The load: stage finds its images before the stats reset, so the counts below are the rollout's and the storms'.
  await using storms = await LoadStage.prepare(scenario, { registry: first.registry, ...(firstMirror ? { mirror: firstMirror } : {}), byName }, rollouts);
  // What came before (pre-pulls, the storms' lookups) counted before the reset, not after it.
  await statsCaughtUp();
  for (const s of servers) s.resetStats();
  const linkBefore = cluster.linkBytes();
  const poolsBefore = new Map(cluster.pools.map((p) => [p.name, cluster.linkBytes(p.name)]));

  if (storms) {
    progress({ type: 'load', storms: storms.describe() });
    await storms.start();
  }
  const startedAt = Date.now();
  faults?.arm(startedAt);
  sampler?.begin();
  // A timed 401 or 404 ends with its window, and kubelet's retries outlast it: no step ends early on it.
  const timedFaults = scenario.faults.length > 0;
  const steps = await runRollouts(timedFaults ? rollouts.map((r) => ({ ...r, failFast: false })) : rollouts, {
    cluster,
    clock: realClock,
    namespace: NAMESPACE,
    pullPolicy: arm.pullPolicy,
    imageRef,
    ...(faults ? { onStepStart: (step: string, at: number) => faults.stepStarted(step, at) } : {}),
    ...(signal ? { signal } : {}),
    onProgress: (step, ready, total) => {
      const moved = cluster.linkBytes();
      progress({ type: 'step', step, ready, total, linkBytes: moved.registry + moved.mirror + (moved.peers ?? 0) - linkBefore.registry - linkBefore.mirror - (linkBefore.peers ?? 0) });
    },
  });
  const rolloutDurationMs = Date.now() - startedAt;
  const usage = sampler?.stop(cluster.nodes.length, { loadStorms: storms?.size ?? 0 });
  const load = await storms?.stop();
  cluster.assertEnoughData();
  const since = (before: LinkBytes, after: LinkBytes): LinkBytes => ({
    registry: after.registry - before.registry,
    mirror: after.mirror - before.mirror,
    ...(after.peers !== undefined ? { peers: after.peers - (before.peers ?? 0) } : {}),
  });
  const linkAfter = cluster.linkBytes();
  const poolLinkBytes = Object.fromEntries(cluster.pools.map((p) => [p.name, since(poolsBefore.get(p.name)!, cluster.linkBytes(p.name))]));
  // Registries counted from their log: every response of the rollout and the storms counted before the read.
  await statsCaughtUp();
  return {
    startedAt,
    rolloutDurationMs,
    steps: steps.map((s) => ({ name: s.name, durationMs: s.durationMs, completed: s.completed, timedOut: s.timedOut, ...(s.failedFast ? { failedFast: s.failedFast } : {}) })),
    linkBytes: since(linkBefore, linkAfter),
    poolLinkBytes,

    ...(usage ? { usage } : {}),
    ...(load ? { load } : {}),
    ...(faults && scenario.faults.length + Object.keys(faults.faulted()).length > 0 ? { faults: { windows: faults.record(), faulted: faults.faulted() } } : {}),
  };
}

export interface CollectStageInput {
  scenario: Scenario;
  index: number;
  cluster: Cluster;
  registries: RunRegistries;
  /** The arm's mirrors, by registry name. */
  mirrors?: ReadonlyMap<string, StartedRegistry>;
  measured: Measured;
  /** The warm stage's check of the cache state, if it made one. */
  cacheVerified?: boolean;
  admitted?: Admission;
  imageRef: (ref: string) => string;
  /** The proxy hop's counters. */
  proxy?: Repetition['proxy'];
}

/**
 * Stage `collect`: the cluster's record read into per-pod timelines (and the verify stage's denials), with the
 * registries' counters: in total, and per registry and per pool when the scenario declares them.
 */
export function collectStage({ scenario, index, cluster, registries, mirrors, measured, cacheVerified, admitted, imageRef, proxy }: CollectStageInput): Repetition {
  const p2p = cluster.p2pStats?.();
  let pods = [...buildTimelines(cluster.events(), cluster.observations()), ...(admitted ? deniedPods(admitted, imageRef, measured.startedAt) : [])];
  const perRegistry = registries.list.map((r) => {
    const mirror = mirrors?.get(r.spec.name);
    return [r.spec.name, { registry: r.registry.stats(), ...(mirror ? { mirror: mirror.stats() } : {}) }] as const;
  });
  const mirrorStats = perRegistry.flatMap(([, s]) => (s.mirror ? [s.mirror] : []));
  const byPool = scenario.cluster.pools !== undefined;
  if (byPool) {
    const poolOf = new Map(cluster.pools.flatMap((p) => p.nodes.map((n) => [n, p.name] as const)));
    pods = pods.map((p) => {
      const pool = p.node !== undefined ? poolOf.get(p.node) : undefined;
      return pool !== undefined ? { ...p, pool } : p;
    });
  }
  return {
    index,
    startedAt: measured.startedAt,
    rolloutDurationMs: measured.rolloutDurationMs,
    steps: measured.steps,
    pods,
    registry: perRegistry.length === 1 ? perRegistry[0]![1].registry : sumStats(perRegistry.map(([, s]) => s.registry)),
    ...(mirrorStats.length > 0 ? { mirror: mirrorStats.length === 1 ? mirrorStats[0]! : sumStats(mirrorStats) } : {}),
    ...(scenario.registries ? { registries: Object.fromEntries(perRegistry) } : {}),
    linkBytes: measured.linkBytes,
    ...(p2p ? { p2p } : {}),
    ...(byPool ? { pools: Object.fromEntries(cluster.pools.map((p) => [p.name, { nodes: p.nodes.length, linkBytes: measured.poolLinkBytes[p.name] ?? { registry: 0, mirror: 0 } }])) } : {}),
    ...(cacheVerified !== undefined ? { cacheVerified } : {}),
    ...(measured.usage ? { usage: measured.usage } : {}),
    ...(measured.load ? { load: measured.load } : {}),
    ...(measured.faults ? { faults: measured.faults } : {}),
    ...(proxy ? { proxy } : {}),
  };
}
