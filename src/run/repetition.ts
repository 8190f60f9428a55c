import { UsageSampler } from '../measure/usage.js';
import type { Repetition } from '../results/index.js';
import type { Arm } from '../scenario/matrix.js';
import { clusterStage, warmStage } from './cluster-stage.js';
import { Owned, type RunContext } from './context.js';
import { PROXY_ALIASES } from '../cluster/drivers/emulated/driver.js';
import { startForwardProxy } from '../net/forward-proxy.js';
import type { NodeWays } from './cluster-stage.js';
import { ContainerFaultStage } from './container-fault-stage.js';
import { FaultStage, type FaultSchedule } from './fault-stage.js';
import type { StartedRegistry } from '../registry/provider.js';
import { collectStage, measureStage } from './measure-stage.js';
import { mirrorStage, type RunRegistries } from './registry-stage.js';
import { rolloutImageRefs } from './verify-stage.js';

export interface RepetitionInput {
  arm: Arm;
  /** 0-based, within the arm. */
  index: number;
  /** The registries this repetition pulls from (a fresh one per repetition under a rate limit). */
  registries: RunRegistries;
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
export async function runRepetition(ctx: RunContext, { arm, index, registries }: RepetitionInput): Promise<RepetitionOutput> {
  const { scenario, real, admitted, progress, signal } = ctx;
  await using owned = new Owned();
  // Emulated nodes meet the scenario's faults through fronts; a real cluster's are a stopped or paused container (below).
  const fronts = real ? undefined : owned.add(await FaultStage.start(scenario, registries));
  const mirrors = arm.topology === 'mirror' ? owned.add(await mirrorStage({ scenario, registries, ...(fronts ? { upstreams: fronts.upstreams } : {}), ...(real ? { real } : {}) })).byRegistry : undefined;
  const mirrorWays = new Map<string, string>();
  for (const [name, mirror] of mirrors ?? []) if (fronts) mirrorWays.set(name, await fronts.mirror(registries.byName(name).spec, mirror.host));
  const ways: NodeWays = fronts ? { registries: fronts.registries, mirrors: mirrorWays } : {};
  const faults: FaultSchedule | undefined = fronts ?? (real && scenario.faults.length > 0 ? owned.add(containerFaults(scenario, registries, mirrors)) : undefined);
  // The proxy hop: a forward proxy that resolves the registry's and the mirror's aliases to where the nodes would reach
  // them (one registry: runScenario refuses a proxy with several).
  const first = registries.list[0]!;
  const firstMirror = mirrors?.get(first.spec.name);
  const proxy = scenario.proxy && !real ? owned.add(await startForwardProxy({
    ...(scenario.proxy.auth ? { auth: scenario.proxy.auth } : {}),
    resolve: {
      [PROXY_ALIASES.registry]: ways.registries?.get(first.spec.name) ?? first.registry.host,
      ...(firstMirror ? { [PROXY_ALIASES.mirror]: ways.mirrors?.get(first.spec.name) ?? firstMirror.host } : {}),
    },
  })) : undefined;
  if (proxy) ways.proxy = fronts ? await fronts.proxy(proxy.host) : proxy.host;
  if (fronts && arm.p2p) ways.peer = (agentHost, node) => fronts.peer(agentHost, node);
  // Emulated nodes live in this process: sample it, from a baseline before the nodes start.
  const sampler = real ? undefined : owned.add(UsageSampler.start());
  const cluster = owned.add(await clusterStage({ scenario, arm, index, registries, ...(mirrors ? { mirrors } : {}), ...(real ? { real } : {}), ways, ...(signal ? { signal } : {}) }));
  // Real nodes name the registry (or the mirror route) as they reach it on their network; emulated ones by each image's registry.
  const imageRef = real ? (ref: string): string => `${real.imageHost(arm.topology)}/${ref}` : (ref: string): string => registries.imageRef(ref);
  const rollouts = admitted?.rollouts ?? scenario.rollouts;
  const absent = new Set(scenario.images.filter((i) => i.absent).map((i) => i.ref));
  const refs = rolloutImageRefs(rollouts).filter((ref) => !absent.has(ref));
  // Pre-pulls authenticate per registry, with its first user.
  const warmGroups = registries.list.map((r) => {
    const user = r.spec.auth?.users[0];
    return { images: refs.filter((ref) => registries.of(ref) === r).map(imageRef), ...(user ? { auth: user } : {}) };
  }).filter((g) => g.images.length > 0);
  const cacheVerified = await warmStage({ cluster, arm, groups: warmGroups, real: real !== undefined, progress });
  const measured = await measureStage({ scenario, arm, cluster, registries, ...(mirrors ? { mirrors } : {}), rollouts, imageRef, ...(sampler ? { sampler } : {}), ...(faults ? { faults } : {}), progress, ...(signal ? { signal } : {}) });
  const repetition = collectStage({
    ...(proxy ? { proxy: proxy.stats() } : {}), scenario, index, cluster, registries, ...(mirrors ? { mirrors } : {}), measured,
    ...(cacheVerified !== undefined ? { cacheVerified } : {}), ...(admitted ? { admitted } : {}), imageRef,
  });
  const mirror = mirrors?.values().next().value;
  return { repetition, versions: { cluster: cluster.versions(), ...(mirror ? { mirror: mirror.version() } : {}) } };
}

// A real cluster (one registry, flat form): its registry container, and the arm's mirror container on a mirror arm.
function containerFaults(scenario: RunContext['scenario'], registries: RunRegistries, mirrors: ReadonlyMap<string, StartedRegistry> | undefined): ContainerFaultStage {
  const first = registries.list[0]!;
  const mirror = mirrors?.get(first.spec.name);
  const targets = new Map([[first.spec.name, first.registry.outage], ...(mirror && first.spec.mirror ? [[first.spec.mirror.name, mirror.outage] as const] : [])]);
  return new ContainerFaultStage(scenario.faults, targets);
}
