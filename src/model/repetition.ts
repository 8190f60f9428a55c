import type { RunEventSink } from '../core/progress.js';
import { createHash } from 'node:crypto';
import { EmulatedCluster } from '../cluster/drivers/emulated/driver.js';
import { PullbenchError } from '../errors.js';
import { buildTimelines } from '../measure/timeline.js';
import { ManualClock, seededRandom } from '../core/clock.js';
import { containerdProfile, DEFAULT_MAX_CONCURRENT_DOWNLOADS } from '../node/profiles.js';
import { emptyStats } from '../registry/stats.js';
import type { Repetition } from '../results/index.js';
import { runRollouts } from '../rollout/engine.js';
import type { Arm } from '../scenario/matrix.js';
import type { LinkSection, P2pMode, Scenario } from '../scenario/schema.js';
import type { P2pOptions } from '../node/p2p/index.js';
import type { Calibration } from './calibration.js';
import type { Catalog } from './catalog.js';
import { FlowNetwork, type RouteSpec } from './flow-network.js';
import { ModelRuntime, type ModelWorld } from './runtime.js';
import { ModelMirror, ModelRegistry } from './servers.js';
import { ModelDragonfly } from './dragonfly.js';
import { ModelSpegel } from './spegel.js';
import { runInVirtualTime } from './virtual-time.js';

/** Where a modelled run's virtual clock starts: a fixed instant, so that its timestamps reproduce. */
export const VIRTUAL_EPOCH = Date.UTC(2026, 0, 1);
/** The registry host in modelled image references (no socket behind it). */
const MODEL_REGISTRY_HOST = 'registry.model:5000';

export interface ModelContext {
  scenario: Scenario;
  catalog: Catalog;
  calibration: Calibration;
  /** Scenario refs of the rollout images. */
  images: string[];
  namespace: string;
  onProgress?: RunEventSink;
  /** Topology p2p: the scenario's p2p section and peer links for an arm's mode (as the emulated driver is given them). */
  p2pOptions: (mode: P2pMode) => P2pOptions;
  /** Aborted (Ctrl-C): the virtual-time loop stops at its next turn. */
  signal?: AbortSignal;
}

const bytesPerMs = (bitsPerSecond: number): number => bitsPerSecond / 8 / 1000;

/** A reproducible PRNG per arm, repetition and server: the same scenario draws the same faults. */
function randomFor(scenario: Scenario, arm: Arm, index: number, server: string): () => number {
  const seed = createHash('sha256').update(`${scenario.metadata.name}\0${arm.name}\0${index}\0${server}`).digest().readUInt32LE(0);
  return seededRandom(seed);
}

// The links of one route: the endpoint's own link (Infinity unshaped), then its shared uplink and the server's egress.
function route(name: string, link: LinkSection | undefined, egress: number, capacities: number[]): RouteSpec {
  const shared = link?.sharedUplink ? [capacities.push(bytesPerMs(link.sharedUplink)) - 1] : [];
  return { name, endpointBytesPerMs: link ? bytesPerMs(link.bandwidth) : Infinity, shared: [...shared, egress] };
}

/**
 * One repetition of an arm in virtual time: the emulated cluster's nodes,
 * kubelets and pod bookkeeping over model runtimes, the rollout engine on the
 * same clock, and the record measured by the same parser as every cluster's.
 */
export function runModelRepetition(ctx: ModelContext, arm: Arm, index: number): Promise<Repetition> {
  const clock = new ManualClock(VIRTUAL_EPOCH);
  return runInVirtualTime(clock, async () => {
    const { scenario, calibration } = ctx;
    const capacities: number[] = [];
    const registryEgress = capacities.push(calibration.registry.egressBytesPerMs) - 1;
    const registryLink = arm.topology === 'pre-pulled' ? undefined : scenario.links.registry;
    const routes = [route('registry', registryLink, registryEgress, capacities)];
    const mirrored = arm.topology === 'mirror';
    if (mirrored) {
      const mirrorEgress = capacities.push(calibration.mirror.egressBytesPerMs) - 1;
      routes.push(route('mirror', scenario.links.mirror, mirrorEgress, capacities), route('upstream', scenario.links.upstream, registryEgress, capacities));
    }
    const network = new FlowNetwork(clock, capacities, routes);
    const registry = new ModelRegistry(clock, {
      calibration: calibration.registry,
      random: randomFor(scenario, arm, index, 'registry'),
      ...(scenario.registry.rateLimit ? { rateLimit: { manifestGets: scenario.registry.rateLimit.manifestGets, windowMs: scenario.registry.rateLimit.window } } : {}),
      ...(scenario.registry.faults ? { faults: { errorRate: scenario.registry.faults.errorRate, latencyMs: scenario.registry.faults.latency } } : {}),
    });
    const tags = new Map([...ctx.catalog].map(([ref, img]) => [`${img.repo}:${ref.slice(ref.lastIndexOf(':') + 1)}`, { digest: img.root.digest, bytes: img.root.size }]));
    const mirror = mirrored
      ? new ModelMirror(
          clock,
          { calibration: calibration.mirror, random: randomFor(scenario, arm, index, 'mirror'), ...(scenario.mirror?.faults ? { faults: { errorRate: scenario.mirror.faults.errorRate, latencyMs: scenario.mirror.faults.latency } } : {}) },
          { registry, network, route: 2, latencyMs: scenario.links.upstream?.latency ?? 0 },
          tags,
        )
      : undefined;
    // Topology p2p: a Spegel-like (whole-blob) or Dragonfly-like (pieces) agent per node.
    const p2p = arm.p2p ? ctx.p2pOptions(arm.p2p) : undefined;
    const p2pRandom = randomFor(scenario, arm, index, 'p2p');
    const agents = !p2p
      ? undefined
      : p2p.mode === 'whole-blob'
        ? new ModelSpegel(clock, scenario.cluster.nodes, p2p.wholeBlob, p2p.link, p2pRandom)
        : new ModelDragonfly(clock, scenario.cluster.nodes, p2p.pieces, p2p.link, p2pRandom);
    const world: ModelWorld = {
      clock,
      network,
      catalog: ctx.catalog,
      registry: { server: registry, route: 0, latencyMs: registryLink?.latency ?? 0, shaped: registryLink !== undefined },
      ...(mirror ? { mirror: { server: mirror, route: 1, latencyMs: scenario.links.mirror?.latency ?? 0, shaped: scenario.links.mirror !== undefined } } : {}),
      maxConcurrentDownloads: scenario.cluster.kubelet.maxConcurrentDownloads ?? DEFAULT_MAX_CONCURRENT_DOWNLOADS,
      containerd: containerdProfile(scenario.cluster.containerdVersion),
      ...(agents ? { p2p: agents } : {}),
    };
    await using cluster = await EmulatedCluster.start({
      nodes: scenario.cluster.nodes,
      runtime: 'embedded',
      kubelet: scenario.cluster.kubelet,
      ...(scenario.cluster.kubernetesVersion ? { kubernetesVersion: scenario.cluster.kubernetesVersion } : {}),
      ...(scenario.cluster.containerdVersion ? { containerdVersion: scenario.cluster.containerdVersion } : {}),
      clock,
      registryHost: MODEL_REGISTRY_HOST,
      registry: { target: MODEL_REGISTRY_HOST },
      pullSecrets: new Map(scenario.pullSecrets.map((p) => [p.name, { username: p.username, password: p.password }])),
      namePrefix: 'node',
      // Endpoint 0 is the mirror's own end of its upstream link.
      runtimes: { driver: 'model', create: (_name, i) => new ModelRuntime(world, i + 1) },
    });
    const images = ctx.images.map((ref) => `${MODEL_REGISTRY_HOST}/${ref}`);
    let cacheVerified: boolean | undefined;
    if (arm.cache === 'warm') {
      await cluster.prepull(images);
      for (const node of cluster.nodes) {
        const present = new Set(await cluster.nodeImages(node));
        const missing = images.filter((i) => !present.has(i));
        if (missing.length > 0) {
          throw new PullbenchError('RUN_INVALID', `arm ${arm.name} claims a warm cache but images are missing: ${node}: ${missing[0]}`, { details: { missing } });
        }
      }
      cacheVerified = true;
    }
    Object.assign(registry.stats, emptyStats(false));
    if (mirror) Object.assign(mirror.stats, emptyStats(true));
    const linkBefore = cluster.linkBytes();
    const peersBefore = agents?.flows.received ?? 0;
    const t0 = clock.now();
    let uid = 0;
    const steps = await runRollouts(scenario.rollouts, {
      cluster,
      clock,
      namespace: ctx.namespace,
      pullPolicy: arm.pullPolicy,
      imageRef: (ref) => `${MODEL_REGISTRY_HOST}/${ref}`,
      newUid: () => `00000000-0000-4000-8000-${(++uid).toString(16).padStart(12, '0')}`,
      onProgress: (step, ready, total) => ctx.onProgress?.({ type: 'step', step, ready, total, virtualSeconds: (clock.now() - t0) / 1000 }),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    const linkAfter = cluster.linkBytes();
    return {
      index,
      startedAt: t0,
      rolloutDurationMs: clock.now() - t0,
      steps: steps.map((s) => ({ name: s.name, durationMs: s.durationMs, completed: s.completed, timedOut: s.timedOut })),
      pods: buildTimelines(cluster.events(), cluster.observations()),
      registry: { ...registry.stats },
      ...(mirror ? { mirror: { ...mirror.stats } } : {}),
      linkBytes: {
        registry: linkAfter.registry - linkBefore.registry,
        mirror: linkAfter.mirror - linkBefore.mirror,
        ...(agents ? { peers: agents.flows.received - peersBefore } : {}),
      },
      ...(agents ? { p2p: agents.stats() } : {}),
      ...(cacheVerified !== undefined ? { cacheVerified } : {}),
    };
  }, ctx.signal);
}
