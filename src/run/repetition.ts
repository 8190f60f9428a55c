import { UsageSampler } from '../measure/usage.js';
import type { StartedRegistry } from '../registry/provider.js';
import type { Repetition } from '../results/index.js';
import type { Arm } from '../scenario/matrix.js';
import { clusterStage, warmStage } from './cluster-stage.js';
import { Owned, type RunContext } from './context.js';
import { collectStage, measureStage } from './measure-stage.js';
import { PROXY_ALIASES } from '../cluster/drivers/emulated/driver.js';
import { startForwardProxy } from '../net/forward-proxy.js';
import type { NodeWays } from './cluster-stage.js';
import { FaultStage } from './fault-stage.js';
import { mirrorStage } from './registry-stage.js';
import { rolloutImageRefs } from './verify-stage.js';

export interface RepetitionInput {
  arm: Arm;
  /** 0-based, within the arm. */
  index: number;
  /** The registry this repetition pulls from (a fresh one per repetition under a rate limit). */
  registry: StartedRegistry;
}

export interface RepetitionOutput {
  repetition: Repetition;
  /** What ran it, for the results' environment: the cluster's runtime and kubelet versions, the mirror's. */
  versions: { cluster: Record<string, string>; mirror?: string };
}

/**
 * One repetition of one arm, as the per-arm stages in order: mirror, cluster,
 * warm, measure, collect. Everything it starts is disposed when it ends.
 */
export async function runRepetition(ctx: RunContext, { arm, index, registry }: RepetitionInput): Promise<RepetitionOutput> {
  const { scenario, real, admitted, progress } = ctx;
  await using owned = new Owned();
  // Emulated nodes meet the scenario's faults through fronts; a real cluster's (a stopped or paused registry container) are the run's.
  const faults = real ? undefined : owned.add(await FaultStage.start(scenario, registry.host));
  const mirror = arm.topology === 'mirror' ? owned.add(await mirrorStage({ scenario, registry, ...(faults ? { upstream: faults.upstream } : {}), ...(real ? { real } : {}) })).mirror : undefined;
  const ways: NodeWays = faults ? { registry: faults.registry, ...(mirror ? { mirror: await faults.mirror(mirror.host) } : {}) } : {};
  // The proxy hop: a forward proxy that resolves the registry's and the mirror's aliases to where the nodes would reach them.
  const proxy = scenario.proxy && !real ? owned.add(await startForwardProxy({
    ...(scenario.proxy.auth ? { auth: scenario.proxy.auth } : {}),
    resolve: { [PROXY_ALIASES.registry]: ways.registry ?? registry.host, ...(mirror ? { [PROXY_ALIASES.mirror]: ways.mirror ?? mirror.host } : {}) },
  })) : undefined;
  if (proxy) ways.proxy = faults ? await faults.proxy(proxy.host) : proxy.host;
  // Emulated nodes live in this process: sample it, from a baseline before the nodes start.
  const sampler = real ? undefined : owned.add(UsageSampler.start());
  const cluster = owned.add(await clusterStage({ scenario, arm, index, registry, ...(mirror ? { mirror } : {}), ...(real ? { real } : {}), ways }));
  // Real nodes name the registry (or the mirror route) as they reach it on their network.
  const imageHost = real?.imageHost(arm.topology) ?? registry.host;
  const rollouts = admitted?.rollouts ?? scenario.rollouts;
  const absent = new Set(scenario.images.filter((i) => i.absent).map((i) => i.ref));
  const images = rolloutImageRefs(rollouts).filter((ref) => !absent.has(ref)).map((ref) => `${imageHost}/${ref}`);
  const auth = scenario.registry.auth?.users[0];
  const cacheVerified = await warmStage({ cluster, arm, images, ...(auth ? { auth } : {}), real: real !== undefined, progress });
  const measured = await measureStage({ scenario, arm, cluster, registry, ...(mirror ? { mirror } : {}), rollouts, imageHost, ...(sampler ? { sampler } : {}), ...(faults ? { faults } : {}), progress });
  const repetition = collectStage({
    ...(proxy ? { proxy: proxy.stats() } : {}), index, cluster, registry, ...(mirror ? { mirror } : {}), measured, ...(cacheVerified !== undefined ? { cacheVerified } : {}), ...(admitted ? { admitted } : {}), imageHost });
  return { repetition, versions: { cluster: cluster.versions(), ...(mirror ? { mirror: mirror.version() } : {}) } };
}
