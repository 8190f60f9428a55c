import type { RunEventSink } from '../core/progress.js';
import type { Cluster } from '../cluster/cluster.js';
import { realClock } from '../core/clock.js';
import { buildTimelines } from '../measure/timeline.js';
import type { UsageSampler } from '../measure/usage.js';
import type { StartedRegistry } from '../registry/provider.js';
import type { Repetition } from '../results/index.js';
import { runRollouts } from '../rollout/engine.js';
import type { Arm } from '../scenario/matrix.js';
import type { RolloutSection, Scenario } from '../scenario/schema.js';
import type { FaultStage } from './fault-stage.js';
import { LoadStage } from './load-stage.js';
import { deniedPods, type Admission } from './verify-stage.js';

export const NAMESPACE = 'pullbench';

export interface MeasureStageInput {
  scenario: Scenario;
  arm: Arm;
  cluster: Cluster;
  registry: StartedRegistry;
  mirror?: StartedRegistry;
  /** The rollouts to run (the admitted ones when the scenario verifies). */
  rollouts: RolloutSection[];
  /** The host pods name in image references. */
  imageHost: string;
  /** Emulated clusters: the process usage sampler, started before the nodes. */
  sampler?: UsageSampler;
  /** The fault fronts, armed as the rollout starts. */
  faults?: FaultStage;
  progress: RunEventSink;
}

/** What the measured rollout produced, before it is read into a repetition. */
export interface Measured {
  /** When the rollout started (ms since the epoch). */
  startedAt: number;
  rolloutDurationMs: number;
  steps: Repetition['steps'];
  linkBytes: { registry: number; mirror: number; peers?: number };
  usage?: Repetition['usage'];
  load?: Repetition['load'];
  faults?: Repetition['faults'];
}

/**
 * Stage `measure`: the scenario's storms (if any) beside the rollouts, with
 * the registries' counters and the links' byte counts reset or read around
 * them, so that what came before (pre-pulls, storm lookups) is not counted.
 */
export async function measureStage({ scenario, arm, cluster, registry, mirror, rollouts, imageHost, sampler, faults, progress }: MeasureStageInput): Promise<Measured> {
  // Registries counted from their log (docker-registry) answer before they log: their counts wait for the log.
  const statsCaughtUp = async (): Promise<void> => {
    await Promise.all([registry.statsCaughtUp?.(), mirror?.statsCaughtUp?.()]);
  };
  // The load: stage finds its images before the stats reset, so the counts below are the rollout's and the storms'.
  await using storms = await LoadStage.prepare(scenario, { registry, ...(mirror ? { mirror } : {}) }, rollouts);
  // What came before (pre-pulls, the storms' lookups) counted before the reset, not after it.
  await statsCaughtUp();
  registry.resetStats();
  mirror?.resetStats();
  const linkBefore = cluster.linkBytes();

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
    imageRef: (ref) => `${imageHost}/${ref}`,
    ...(faults ? { onStepStart: (step: string, at: number) => faults.stepStarted(step, at) } : {}),
    onProgress: (step, ready, total) => {
      const moved = cluster.linkBytes();
      progress({ type: 'step', step, ready, total, linkBytes: moved.registry + moved.mirror + (moved.peers ?? 0) - linkBefore.registry - linkBefore.mirror - (linkBefore.peers ?? 0) });
    },
  });
  const rolloutDurationMs = Date.now() - startedAt;
  const usage = sampler?.stop(cluster.nodes.length, { loadStorms: storms?.size ?? 0 });
  const load = await storms?.stop();
  cluster.assertEnoughData();
  const linkAfter = cluster.linkBytes();
  // Registries counted from their log: every response of the rollout and the storms counted before the read.
  await statsCaughtUp();
  return {
    startedAt,
    rolloutDurationMs,
    steps: steps.map((s) => ({ name: s.name, durationMs: s.durationMs, completed: s.completed, timedOut: s.timedOut, ...(s.failedFast ? { failedFast: s.failedFast } : {}) })),
    linkBytes: {
      registry: linkAfter.registry - linkBefore.registry,
      mirror: linkAfter.mirror - linkBefore.mirror,
      ...(linkAfter.peers !== undefined ? { peers: linkAfter.peers - (linkBefore.peers ?? 0) } : {}),
    },
    ...(usage ? { usage } : {}),
    ...(load ? { load } : {}),
    ...(faults && scenario.faults.length + Object.keys(faults.faulted()).length > 0 ? { faults: { windows: faults.record(), faulted: faults.faulted() } } : {}),
  };
}

export interface CollectStageInput {
  index: number;
  cluster: Cluster;
  registry: StartedRegistry;
  mirror?: StartedRegistry;
  measured: Measured;
  /** The warm stage's check of the cache state, if it made one. */
  cacheVerified?: boolean;
  admitted?: Admission;
  imageHost: string;
  /** The proxy hop's counters. */
  proxy?: Repetition['proxy'];
}

/** Stage `collect`: the cluster's record read into per-pod timelines (and the verify stage's denials), with the registries' counters. */
export function collectStage({ index, cluster, registry, mirror, measured, cacheVerified, admitted, imageHost, proxy }: CollectStageInput): Repetition {
  const p2p = cluster.p2pStats?.();
  const pods = [...buildTimelines(cluster.events(), cluster.observations()), ...(admitted ? deniedPods(admitted, imageHost, measured.startedAt) : [])];
  return {
    index,
    startedAt: measured.startedAt,
    rolloutDurationMs: measured.rolloutDurationMs,
    steps: measured.steps,
    pods,
    registry: registry.stats(),
    ...(mirror ? { mirror: mirror.stats() } : {}),
    linkBytes: measured.linkBytes,
    ...(p2p ? { p2p } : {}),
    ...(cacheVerified !== undefined ? { cacheVerified } : {}),
    ...(measured.usage ? { usage: measured.usage } : {}),
    ...(measured.load ? { load: measured.load } : {}),
    ...(measured.faults ? { faults: measured.faults } : {}),
    ...(proxy ? { proxy } : {}),
  };
}
