import type { RunEventSink } from '../core/progress.js';
import type { Cluster } from '../cluster/cluster.js';
import { EmulatedCluster, PROXY_ALIASES, type EmulatedClusterOptions, type EmulatedPool, type NodeProxy, type Route } from '../cluster/drivers/emulated/driver.js';
import { realClock } from '../core/clock.js';
import { PullbenchError } from '../errors.js';
import type { BasicCredentials } from '../oci/credentials.js';
import type { StartedRegistry } from '../registry/provider.js';
import type { Arm } from '../scenario/matrix.js';
import { parsePlatform } from '../oci/platform.js';
import { routeLink, scenarioPools } from '../scenario/fleet.js';
import type { P2pMode, Scenario } from '../scenario/schema.js';
import type { P2pOptions, PeerWay } from '../node/p2p/index.js';
import type { RunRegistries } from './registry-stage.js';
import type { RealRun } from './real-cluster.js';

/** A fleet link as an emulated route: scenario units are the driver's (bytes per second, ms); nodes sharing an uplink share where it was declared. */
function route(target: string, found: ReturnType<typeof routeLink>): Route {
  return { target, ...(found ? { link: found.link, uplinkKey: found.origin } : {}) };
}

/**
 * The scenario as the emulated driver's options: the one place that maps
 * `cluster` (its pools), the registries' and pools' links and `pullSecrets`
 * onto a cluster (cluster/ does not know the scenario file). Pre-pulled arms
 * reach the registries unshaped.
 */
function emulatedClusterOptions(scenario: Scenario, arm: Arm, registries: RunRegistries, mirrors: ReadonlyMap<string, StartedRegistry> | undefined, ways: NodeWays, signal: AbortSignal | undefined): EmulatedClusterOptions {
  const pools = scenarioPools(scenario).map((pool): EmulatedPool => ({
    name: pool.name,
    nodes: pool.nodes,
    namePrefix: pool.nodePrefix,
    ...(pool.platform ? { platform: parsePlatform(pool.platform) } : {}),
    kubelet: pool.kubelet,
    ...(pool.kubernetesVersion ? { kubernetesVersion: pool.kubernetesVersion } : {}),
    ...(pool.containerdVersion ? { containerdVersion: pool.containerdVersion } : {}),
    registries: registries.list.map(({ spec, registry }) => {
      const mirror = mirrors?.get(spec.name);
      return {
        name: spec.name,
        host: registry.host,
        registry: route(ways.registries?.get(spec.name) ?? registry.host, arm.topology !== 'pre-pulled' ? routeLink(pool, spec, 'registry') : undefined),
        ...(mirror ? { mirror: route(ways.mirrors?.get(spec.name) ?? mirror.host, routeLink(pool, spec, 'mirror')) } : {}),
      };
    }),
  }));
  return {
    runtime: scenario.cluster.runtime,
    layerStore: scenario.cluster.layerStore,
    clock: realClock,
    pools,
    // A secret naming a registry holds credentials for its host only; else for every registry's.
    pullSecrets: new Map(scenario.pullSecrets.map((p) => [p.name, {
      username: p.username, password: p.password, ...(p.registry ? { hosts: [registries.byName(p.registry).registry.host] } : {}),
    }])),
    ...(ways.proxy && scenario.proxy ? { proxy: nodeProxy(scenario.proxy, { target: ways.proxy, ...(scenario.links.proxy ? { link: scenario.links.proxy } : {}) }) } : {}),
    ...(arm.p2p ? { p2p: p2pOptions(scenario, arm.p2p), ...(ways.peer ? { peerWay: ways.peer } : {}) } : {}),
    ...(signal ? { signal } : {}),
  };
}

/** The scenario's `p2p` section and `links.peer` as the P2P network's options (bandwidths to bytes per second). */
export function p2pOptions(scenario: Scenario, mode: P2pMode): P2pOptions {
  const p = scenario.p2p!;
  const peer = scenario.links.peer!;
  return {
    mode,
    wholeBlob: { resolveTags: p.resolveTags, advertiseDelayMs: p.advertiseDelay, lookupCacheTtlMs: p.lookupCacheTtl, resolveRetries: p.resolveRetries },
    pieces: {
      ...(p.pieceLength !== undefined ? { pieceLength: p.pieceLength } : {}),
      pieceLengthScale: scenario.scale?.bytes ?? 1,
      candidateParentLimit: p.candidateParentLimit,
      filterParentLimit: p.filterParentLimit,
      backToSourceCount: p.backToSourceCount,
      retryBackToSourceLimit: p.retryBackToSourceLimit,
      retryIntervalMs: p.retryInterval,
      concurrentPieceCount: p.concurrentPieceCount,
    },
    link: { upload: peer.upload / 8, download: (peer.download ?? peer.upload) / 8, latencyMs: peer.latency },
    ...(p.faults ? { faults: { afterMs: p.faults.after, kill: p.faults.kill, corrupt: p.faults.corrupt } } : {}),
  };
}

/** Where the nodes reach each registry and mirror when not directly (the fault stage's fronts), by registry name. */
export interface NodeWays {
  registries?: ReadonlyMap<string, string>;
  mirrors?: ReadonlyMap<string, string>;
  /** The proxy hop (the proxy stage's server, or its fault front). */
  proxy?: string;
  /** Topology p2p: where a node's peers reach its agent (the fault stage's front for faults on target peers). */
  peer?: PeerWay;
}

// `registry` and `mirror` in noProxy are the names the nodes know them by (their aliases); anything else is a NO_PROXY pattern as written.
function nodeProxy(p: NonNullable<Scenario['proxy']>, via: Route): NodeProxy {
  const alias = (entry: string): string => (entry === 'registry' || entry === 'mirror' ? PROXY_ALIASES[entry].split(':')[0]! : entry);
  return { route: via, ...(p.auth ? { credentials: p.auth } : {}), noProxy: p.noProxy.map(alias) };
}

export interface ClusterStageInput {
  scenario: Scenario;
  arm: Arm;
  /** The repetition's index (a real cluster names its namespace after it). */
  index: number;
  registries: RunRegistries;
  /** The arm's mirrors, by registry name. */
  mirrors?: ReadonlyMap<string, StartedRegistry>;
  real?: RealRun;
  ways?: NodeWays;
  /** Aborted on Ctrl-C: an emulated cluster stops starting nodes. */
  signal?: AbortSignal;
}

/** Stage `cluster`: a fresh emulated cluster, or a fresh namespace on the run's real cluster. */
export async function clusterStage({ scenario, arm, index, registries, mirrors, real, ways = {}, signal }: ClusterStageInput): Promise<Cluster> {
  return real ? real.open(arm, index) : EmulatedCluster.start(emulatedClusterOptions(scenario, arm, registries, mirrors, ways, signal));
}

export interface WarmStageInput {
  cluster: Cluster;
  arm: Arm;
  /** Image references as the nodes pull them, by registry: with its user, for emulated nodes' pre-pulls. */
  groups: { images: string[]; auth?: BasicCredentials }[];
  /** A real cluster: its caches are emptied for cold arms (an emulated one starts empty). */
  real: boolean;
  progress: RunEventSink;
}

/**
 * Stage `warm`: a warm arm gets every image on every node, checked; a cold arm
 * on a real cluster gets its caches emptied, checked. Whether the cache state
 * was checked (undefined: a fresh emulated cluster, cold by construction).
 */
export async function warmStage({ cluster, arm, groups, real, progress }: WarmStageInput): Promise<boolean | undefined> {
  const images = groups.flatMap((g) => g.images);
  if (arm.cache === 'warm') {
    progress({ type: 'warming', nodes: cluster.nodes.length, images: images.length });
    for (const g of groups) await cluster.prepull(g.images, g.auth);
    const missing: string[] = [];
    for (const node of cluster.nodes) {
      const present = new Set(await cluster.nodeImages(node));
      for (const image of images) if (!present.has(image)) missing.push(`${node}: ${image}`);
    }
    if (missing.length > 0) {
      throw new PullbenchError('RUN_INVALID', `arm ${arm.name} claims a warm cache but images are missing: ${missing.slice(0, 5).join(', ')}`, { details: { missing } });
    }
    return true;
  }
  if (real && arm.cache === 'cold') {
    progress({ type: 'emptying-cache', nodes: cluster.nodes.length });
    return cluster.makeCold(images);
  }
  return undefined;
}
