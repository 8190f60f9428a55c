import { randomUUID } from 'node:crypto';
import { useProxy, type ProxyEnv } from '../../../net/proxy-env.js';
import { startShapedProxy, SharedUplink, type LinkSpec, type ShapedRouteSpec, type StartedProxy } from '../../../net/index.js';
import type { Clock } from '../../../core/clock.js';
import { EmulatedNode } from '../../../node/kubelet.js';
import type { Runtime } from '../../../node/runtime.js';
import { PullbenchError } from '../../../errors.js';
import { ContainerdRuntime } from '../../../node/runtimes/containerd.js';
import { startSandboxImageSource } from '../../../node/containerd/sandbox.js';
import { EmbeddedRuntime, type LayerStoreKind } from '../../../node/runtimes/embedded.js';
import type { PlatformSpec } from '../../../oci/platform.js';
import { containerdProfile, DEFAULT_MAX_CONCURRENT_DOWNLOADS, kubeletProfile } from '../../../node/profiles.js';
import type { KubeletImagePullSettings } from '../../../node/kubelet/config.js';
import { mergeNodeSettings } from '../../kube/kubelet-settings.js';
import { DEFAULT_IMAGE_PULL_PROGRESS_TIMEOUT_MS } from '../../../node/runtimes/pull-progress.js';
import { formatGoDuration } from '../../../node/kubelet/duration.js';
import { hasImagePullProgressTimeout } from '../../../node/containerd/daemon.js';
import { Keyring, SECRET_TYPE_DOCKER_CONFIG_JSON, type BasicCredentials } from '../../../oci/credentials.js';
import type { Cluster, ClusterPool, LinkBytes, PodCondition, PodCreate } from '../../cluster.js';
import type { KubeEvent, PodObservation } from '../../../core/events.js';
import { emulationWorkers, RuntimeWorkers } from '../../../node/runtimes/worker-runtimes.js';
import { PeerNetwork, type P2pOptions, type P2pStats, type PeerWay } from '../../../node/p2p/index.js';
import { AdvertisingRuntime } from '../../../node/p2p/advertising-runtime.js';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, type TempDir } from '../../../util/temp.js';
import { registerCleanup, traceExit, withSyncFallback } from '../../../util/cleanup.js';

/** A shaped link as the emulated nodes see it (bytes per second, milliseconds); run/ maps the scenario's `links` onto it. */
export interface RouteLink {
  bandwidth: number;
  latency: number;
  jitter?: number;
  /** Bytes per second that every node's link of this kind shares (one uplink). */
  sharedUplink?: number;
}

/** The kubelet and containerd settings every emulated node gets, as a config file writes them (unset: defaulted). */
export interface EmulatedKubelet extends KubeletImagePullSettings {
  /** containerd's max_concurrent_downloads (default 3). */
  maxConcurrentDownloads?: number | undefined;
  /** containerd's image_pull_progress_timeout in ms (default 5 min; 0: never). */
  imagePullProgressTimeout?: number | undefined;
  ensureSecretPulledImages: boolean;
}

/** A way from the nodes to a registry: its real address, and how fast the way is. */
export interface Route {
  /** host:port the traffic goes to. */
  target: string;
  /** No link: the nodes reach the target directly, unshaped. */
  link?: RouteLink;
  /** Routes naming the same key share one `link.sharedUplink` across their nodes (default: one per cluster and kind). */
  uplinkKey?: string;
}

/**
 * The names a proxied node's hosts.toml gives the registry and the mirror: Go never proxies localhost or a
 * loopback address (httpproxy config.useProxy), so a proxied host needs a name only the proxy resolves.
 */
export const PROXY_ALIASES = { registry: 'registry.pullbench.internal:5000', mirror: 'mirror.pullbench.internal:5000' } as const;

/** An HTTP proxy between the nodes and the registries, set in each node's runtime environment. */
export interface NodeProxy {
  /** The proxy server, and the nodes' link to it. */
  route: Route;
  credentials?: BasicCredentials;
  /** NO_PROXY entries, as Go reads them (`registry` / `mirror` already mapped to their alias hosts by the caller). */
  noProxy: string[];
}

/** How a pool's nodes reach one registry: the host its image references name, the registry and the mirror in front of it. */
export interface RegistryRoutes {
  /** Names the registry's routes in link byte counts. */
  name: string;
  /** The registry host in image references (host:port); its hosts.toml directory on the nodes. */
  host: string;
  registry: Route;
  /** With a mirror: nodes try it first (hosts.toml), then the registry. */
  mirror?: Route;
}

/** Nodes alike: their count, names, platform, kubelet and the ways to every registry. */
export interface EmulatedPool {
  name: string;
  nodes: number;
  /** Node names are `<namePrefix>-1`, `<namePrefix>-2`, ... */
  namePrefix: string;
  /** The platform the nodes pull from an image index (default this machine's). */
  platform?: PlatformSpec;
  kubelet: EmulatedKubelet;
  /** The kubelet release the nodes follow (default DEFAULT_KUBERNETES_VERSION). */
  kubernetesVersion?: string;
  /** The containerd release the embedded runtimes follow (default DEFAULT_CONTAINERD_VERSION). */
  containerdVersion?: string;
  registries: RegistryRoutes[];
}

/** One pool pulling from one registry: the form most callers (and the model driver) need. */
interface SinglePool {

  nodes: number;
  /** The kubelet release the nodes follow (default DEFAULT_KUBERNETES_VERSION). */
  kubernetesVersion?: string;
  /** The containerd release the embedded runtimes follow (default DEFAULT_CONTAINERD_VERSION). */
  containerdVersion?: string;
  kubelet: EmulatedKubelet;
  /** The registry host in image references (host:port). */
  registryHost: string;
  registry: Route;
  /** With a mirror: nodes try it first (hosts.toml), then the registry. */
  mirror?: Route;
  /** Node name prefix, e.g. `arm1-node`. */
  namePrefix?: string;
}

interface ClusterCommon {
  runtime: 'embedded' | 'containerd';
  /** The embedded runtimes' layer store (default disk: containerd's work per pull). */
  layerStore?: LayerStoreKind;
  clock: Clock;
  /** Scenario pull secrets by name; a secret without hosts holds credentials for every registry host. */
  pullSecrets: Map<string, BasicCredentials & { hosts?: string[] }>;
  /**
   * Runtimes made by the caller instead of started here (the `model` driver's runtimes in virtual time): the
   * nodes, kubelets and pod bookkeeping stay this cluster's, `runtime` and `workers` are then unused.
   */
  runtimes?: { driver: string; create(node: string, index: number): Runtime };
  /** Worker threads for the embedded runtimes (0: all in this thread); default PULLBENCH_EMULATION_WORKERS or automatic by node count, see emulationWorkers(). */
  workers?: number;
  /** Topology p2p: a P2P agent per node, listed first in its hosts.toml (src/node/p2p). */
  p2p?: P2pOptions;
  /** Topology p2p: where a node's peers reach its agent, given the agent's host:port (a fault front), default the agent. */
  peerWay?: PeerWay;
  /** A proxy hop: HTTP_PROXY / NO_PROXY in every node's runtime environment. */
  proxy?: NodeProxy;
  /** Aborted (Ctrl-C): the start stops between nodes, and a dispose ends worker-hosted runtimes with their threads. */
  signal?: AbortSignal;
}

export type EmulatedClusterOptions = ClusterCommon & (SinglePool | { pools: EmulatedPool[] });

/** The pool the single-pool form is. */
const SINGLE_POOL = 'default';

function poolsOf(opts: EmulatedClusterOptions): EmulatedPool[] {
  if ('pools' in opts) return opts.pools;
  return [{
    name: SINGLE_POOL,
    nodes: opts.nodes,
    namePrefix: opts.namePrefix ?? 'node',
    kubelet: opts.kubelet,
    ...(opts.kubernetesVersion ? { kubernetesVersion: opts.kubernetesVersion } : {}),
    ...(opts.containerdVersion ? { containerdVersion: opts.containerdVersion } : {}),
    registries: [{ name: 'registry', host: opts.registryHost, registry: opts.registry, ...(opts.mirror ? { mirror: opts.mirror } : {}) }],
  }];
}

interface PodEntry {
  create: PodCreate;
  node: EmulatedNode;
  observation: PodObservation;
  condition: PodCondition;
}

/** A containerd node, with its sandbox image pulled when `sandboxRef` is given; stopped again if that fails. */
async function startContainerdNode(opts: Parameters<typeof ContainerdRuntime.start>[0], sandboxRef: string | undefined): Promise<ContainerdRuntime> {
  const runtime = await ContainerdRuntime.start(opts);
  if (sandboxRef === undefined) return runtime;
  try {
    await runtime.pullSandboxImage(sandboxRef);
  } catch (err) {
    await runtime[Symbol.asyncDispose]().catch(() => undefined);
    throw new PullbenchError('RUNTIME_START_FAILED', `${opts.label}: containerd could not pull its sandbox image ${sandboxRef}: ${(err as Error).message}`, { cause: err });
  }
  return runtime;
}

function toLinkSpec(link: RouteLink): LinkSpec {
  return { bandwidthBps: link.bandwidth, latencyMs: link.latency, ...(link.jitter ? { jitterMs: link.jitter } : {}) };
}

/**
 * A node's hosts.toml for the registry: the mirror, or the node's P2P agent, first, then the registry (containerd
 * tries the `[host]` entries in order and falls through to `server`). An agent is listed as Spegel lists itself
 * (pkg/oci/containerd/mirror.go: templateHosts: pull, and resolve with --resolve-tags); dfinit lists dfdaemon's proxy
 * with pull and resolve.
 */
function hostsTomlFor(registryHost: string, mirrorHost: string | undefined, agent: string | undefined, p2p: P2pOptions | undefined): string {
  const lines = [`server = "http://${registryHost}"`];
  if (mirrorHost) lines.push(`[host."http://${mirrorHost}"]`, '  capabilities = ["pull", "resolve"]');
  if (agent) {
    const resolve = p2p?.mode === 'pieces' || p2p?.wholeBlob.resolveTags;
    lines.push(`[host."${agent}"]`, `  capabilities = ${resolve ? '["pull", "resolve"]' : '["pull"]'}`);
  }
  return [...lines, ''].join('\n');
}

/**
 * The `emulated` driver: N EmulatedNodes (kubelet semantics) over embedded or
 * containerd runtimes, each reaching the registry and the mirror over shaped
 * links of its own, the links that name a shared uplink sharing it. An embedded
 * runtime shapes its own connections (`ShapedRoutes`, in whichever thread it runs);
 * a containerd gets a shaped TCP proxy per route, as it cannot be handed a socket.
 * A fresh cluster has a cold cache.
 */
export class EmulatedCluster implements Cluster {
  readonly driver: string;
  readonly nodes: string[];
  readonly pools: ClusterPool[];
  private readonly fleet: EmulatedPool[];
  private readonly byName = new Map<string, EmulatedNode>();
  private readonly poolOf = new Map<string, EmulatedPool>();
  private readonly runtimes: Runtime[] = [];
  private readonly proxies: { kind: 'registry' | 'mirror'; pool: string; proxy: StartedProxy }[] = [];
  private readonly pods = new Map<string, PodEntry>();
  private readonly listeners = new Set<(uid?: string) => void>();
  private readonly recorded: KubeEvent[] = [];
  private pool: RuntimeWorkers | undefined;
  private peers: PeerNetwork | undefined;
  private contentDir: TempDir | undefined;
  /** The embedded disk-store runtimes' directories, one tree: removed at exit even for runtimes in worker threads. */
  private nodesDir: TempDir | undefined;
  private disposing: Promise<void> | undefined;
  private unregister: () => void = () => undefined;

  private get layerStore(): LayerStoreKind {
    return this.opts.layerStore ?? 'disk';
  }

  private constructor(private readonly opts: EmulatedClusterOptions) {
    this.driver = opts.runtimes?.driver ?? 'emulated';
    this.fleet = poolsOf(opts);
    this.pools = this.fleet.map((p) => ({ name: p.name, nodes: Array.from({ length: p.nodes }, (_, i) => `${p.namePrefix}-${i + 1}`) }));
    this.nodes = this.pools.flatMap((p) => p.nodes);
    this.fleet.forEach((p, i) => this.pools[i]!.nodes.forEach((n) => this.poolOf.set(n, p)));
  }

  static async start(opts: EmulatedClusterOptions): Promise<EmulatedCluster> {
    opts.signal?.throwIfAborted();
    const cluster = new EmulatedCluster(opts);
    // Made before the cluster registers its cleanup, so that a Ctrl-C disposes the cluster (ends its runtimes) first.
    if (opts.runtime === 'embedded' && !opts.runtimes && cluster.layerStore === 'disk') cluster.nodesDir = await makeTempDir('pbnodes-', { manyFiles: true });
    // On Ctrl-C the process's cleanup disposes it, whoever holds it; its parts that outlive the process (temp dirs,
    // containerd daemons) are registered on their own, so an exit need not wait for the rest.
    // At exit its worker threads are told to end first, so that they wind down while the temp dirs are removed.
    const dispose = withSyncFallback(() => cluster[Symbol.asyncDispose](), () => cluster.pool?.terminateNow(), 'equivalent');
    cluster.unregister = registerCleanup(`emulated cluster (${cluster.nodes.length} nodes)`, dispose, { endsWithProcess: true });
    try {
      await cluster.startNodes();
    } catch (err) {
      await cluster[Symbol.asyncDispose]();
      throw err;
    }
    return cluster;
  }

  private async startNodes(): Promise<void> {
    const { opts } = this;
    // A shared uplink is one per key: by default one per cluster and kind, as when every node shared it.
    const uplinkKey = (kind: 'registry' | 'mirror', route: Route): string => route.uplinkKey ?? kind;
    const uplinks = new Map<string, SharedUplink>();
    const uplinkOf = (kind: 'registry' | 'mirror', route: Route): SharedUplink | undefined => {
      const bps = route.link?.sharedUplink;
      if (!bps) return undefined;
      const key = uplinkKey(kind, route);
      if (!uplinks.has(key)) uplinks.set(key, new SharedUplink(bps));
      return uplinks.get(key);
    };
    // uplink false: the route's own link only (the proxy hop's, as before pools).
    const via = async (kind: 'registry' | 'mirror', pool: string, route: Route, uplink?: false): Promise<string> => {
      if (!route.link) return route.target;
      const shared = uplink === false ? undefined : uplinkOf(kind, route);
      const proxy = await startShapedProxy({ target: route.target, link: toLinkSpec(route.link), ...(shared ? { uplink: shared } : {}) });
      this.proxies.push({ kind, pool, proxy });
      return proxy.host;
    };
    const workers = opts.runtime === 'embedded' && !opts.runtimes ? (opts.workers ?? emulationWorkers(process.env, this.nodes.length)) : 0;
    if (workers > 0) this.pool = new RuntimeWorkers(workers);
    // Embedded runtimes: the links as data, applied by each runtime to its own connections. A shared uplink is one
    // per thread (keyed per cluster), its threads' shares counted in one array: one slot per worker.
    const clusterKey = randomUUID();
    const counts = new Map<string, SharedArrayBuffer>();
    const countsOf = (key: string): SharedArrayBuffer => {
      if (!counts.has(key)) counts.set(key, new SharedArrayBuffer(4 * Math.max(workers, 1)));
      return counts.get(key)!;
    };
    const shaped = (kind: 'registry' | 'mirror' | 'proxy', name: string, route: Route | undefined, worker: number | undefined): ShapedRouteSpec[] => {
      if (!route?.link) return [];
      const shared = route.link.sharedUplink;
      const key = route.uplinkKey ?? kind;
      // The proxy link carries registry traffic: its bytes count as the registry's.
      const countAs = kind === 'proxy' ? 'registry' : kind;
      const uplink = shared
        ? { key: `${clusterKey}:${key}`, bandwidthBps: shared, ...(worker !== undefined ? { shares: { counts: countsOf(key), slot: worker } } : {}) }
        : undefined;
      return [{ name: `${countAs}:${name}`, target: route.target, link: toLinkSpec(route.link), ...(uplink ? { uplink } : {}) }];
    };
    const routesFor = (pool: EmulatedPool, worker: number | undefined): ShapedRouteSpec[] => [
      ...pool.registries.flatMap((r) => [...shaped('registry', r.name, r.registry, worker), ...shaped('mirror', r.name, r.mirror, worker)]),
      ...shaped('proxy', 'proxy', opts.proxy?.route, worker),
    ];
    // Only the inflate-only store shapes its own connections (in whichever thread it runs). The disk store's layer
    // threads open plain connections, so it crosses the same shaped proxies as containerd: the link is alike for both.
    // A P2P agent reaches the registry over its node's link (piece mode), so the links are proxies then.
    const selfShaped = opts.runtime === 'embedded' && this.layerStore === 'inflate-only' && !opts.p2p;
    if (opts.p2p) {
      this.peers = await PeerNetwork.start(opts.p2p, opts.clock, opts.peerWay);
      this.contentDir = await makeTempDir('pbcontent-', { manyFiles: true });
    }
    // Every containerd node has its sandbox image before the rollout, as on a running cluster (containerd/sandbox.ts).
    await using sandbox = opts.runtime === 'containerd' && !opts.runtimes ? await startSandboxImageSource() : undefined;
    let index = 0;
    for (const [p, pool] of this.fleet.entries()) {
      for (const name of this.pools[p]!.nodes) {
        opts.signal?.throwIfAborted();
        if (opts.runtimes) {
          const runtime = opts.runtimes.create(name, index++);
          this.runtimes.push(runtime);
          this.addNode(name, pool, runtime);
          continue;
        }
        const proxyEnv = opts.proxy ? await this.proxyEnv(opts.proxy, pool.name, selfShaped, via) : undefined;
        // A proxied host is named by its alias (the proxy resolves it); one NO_PROXY bypasses is reached directly, over its link.
        // The aliases name one registry and its mirror: run/ refuses a proxy with several registries.
        const proxied = (alias: string): boolean => proxyEnv !== undefined && pool.registries.length === 1 && useProxy(alias.split(':')[0]!, alias.split(':')[1]!, proxyEnv.NO_PROXY ?? '');
        // containerd's certs.d: a hosts.toml per registry host, its server the registry's way, a mirror (or P2P agent) host first.
        // The P2P agent fronts the first registry only (run/ refuses p2p with several registries).
        const hostsToml: Record<string, string> = {};
        let agent: string | undefined;
        for (const [i, r] of pool.registries.entries()) {
          const registryHost = proxied(PROXY_ALIASES.registry) ? PROXY_ALIASES.registry : selfShaped ? r.registry.target : await via('registry', pool.name, r.registry);
          const mirrorHost = !r.mirror ? undefined : proxied(PROXY_ALIASES.mirror) ? PROXY_ALIASES.mirror : selfShaped ? r.mirror.target : await via('mirror', pool.name, r.mirror);
          if (i === 0 && this.peers) agent = await this.peers.addNode({ registryHost, name });
          hostsToml[r.host] = hostsTomlFor(registryHost, mirrorHost, i === 0 ? agent : undefined, opts.p2p);
        }
        const contentRoot = this.contentDir ? join(this.contentDir.path, name) : undefined;
        if (contentRoot) await mkdir(contentRoot);
        const embedded = {
          label: name, hostsToml, maxConcurrentDownloads: pool.kubelet.maxConcurrentDownloads ?? DEFAULT_MAX_CONCURRENT_DOWNLOADS, layerStore: this.layerStore,
          imagePullProgressTimeoutMs: pool.kubelet.imagePullProgressTimeout ?? DEFAULT_IMAGE_PULL_PROGRESS_TIMEOUT_MS,
          containerdVersion: containerdProfile(pool.containerdVersion).version, ...(contentRoot ? { contentRoot } : {}),
          ...(this.nodesDir ? { tempParent: this.nodesDir.path } : {}),
          ...(pool.platform ? { platform: pool.platform } : {}),
          ...(proxyEnv ? { proxy: proxyEnv } : {}),
        };
        const runtime: Runtime =
          opts.runtime === 'containerd'
            ? await startContainerdNode({
              label: name, hostsToml: sandbox ? { ...hostsToml, [sandbox.host]: sandbox.hostsToml } : hostsToml,
              maxConcurrentDownloads: pool.kubelet.maxConcurrentDownloads ?? DEFAULT_MAX_CONCURRENT_DOWNLOADS, ...(proxyEnv ? { proxyEnv: { ...proxyEnv } } : {}),
              ...(pool.kubelet.imagePullProgressTimeout !== undefined ? { imagePullProgressTimeoutMs: pool.kubelet.imagePullProgressTimeout } : {}),
            }, sandbox?.ref)
            : this.pool
              ? await this.pool.start((worker) => ({ ...embedded, ...(selfShaped ? { routes: routesFor(pool, worker) } : {}) }))
              : await EmbeddedRuntime.start({ ...embedded, ...(selfShaped ? { routes: routesFor(pool, undefined) } : {}) });
        const nodeIndex = index++;
        this.runtimes.push(runtime);
        const peers = this.peers;
        if (peers) {
          // Spegel reads the node's containerd content store (its --containerd-content-path).
          peers.setContentRoot(nodeIndex, runtime instanceof ContainerdRuntime ? join(runtime.daemon.root, 'io.containerd.content.v1.content') : contentRoot!);
          this.addNode(name, pool, new AdvertisingRuntime(runtime, (...image) => peers.imageCreated(nodeIndex, ...image)));
        } else this.addNode(name, pool, runtime);
      }
    }
  }

  // HTTP_PROXY (with the credentials as user info, as containerd's service environment carries them) and NO_PROXY.
  private async proxyEnv(p: NodeProxy, pool: string, selfShaped: boolean, via: (kind: 'registry' | 'mirror', pool: string, route: Route, uplink?: false) => Promise<string>): Promise<ProxyEnv> {
    const host = selfShaped || !p.route.link ? p.route.target : await via('registry', pool, p.route, false);
    const user = p.credentials ? `${encodeURIComponent(p.credentials.username)}:${encodeURIComponent(p.credentials.password)}@` : '';
    const url = `http://${user}${host}`;
    return { HTTP_PROXY: url, HTTPS_PROXY: url, ...(p.noProxy.length > 0 ? { NO_PROXY: p.noProxy.join(',') } : {}) };
  }

  private addNode(name: string, pool: EmulatedPool, runtime: Runtime): void {
    const k = pool.kubelet;
    const node = new EmulatedNode({
      name,
      runtime,
      clock: this.opts.clock,
      kubelet: kubeletProfile(pool.kubernetesVersion),
      serializeImagePulls: k.serializeImagePulls,
      maxParallelImagePulls: k.maxParallelImagePulls,
      registryPullQPS: k.registryPullQPS,
      registryBurst: k.registryBurst,
      ensureSecretPulledImages: k.ensureSecretPulledImages,
      sink: { emit: (e) => this.onEvent(e) },
    });
    this.byName.set(name, node);
  }

  createPod(pod: PodCreate): void {
    const node = this.byName.get(pod.node);
    if (!node) throw new Error(`no node ${pod.node}`);
    const observation: PodObservation = {
      uid: pod.uid, name: pod.name, namespace: pod.namespace, rollout: pod.rollout, image: pod.image, node: pod.node,
      createdAt: this.opts.clock.now(), ...(pod.expectFailure ? { expectFailure: true } : {}),
    };
    this.pods.set(pod.uid, { create: pod, node, observation, condition: 'pending' });
    this.onEvent({
      type: 'Normal', reason: 'Scheduled', message: `Successfully assigned ${pod.namespace}/${pod.name} to ${pod.node}`,
      involvedObject: { kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid },
      source: { component: 'default-scheduler' }, timestamp: this.opts.clock.now(),
    });
    void node.runPod({
      uid: pod.uid, name: pod.name, namespace: pod.namespace,
      containers: [{ name: 'app', image: pod.image, ...(pod.imagePullPolicy ? { imagePullPolicy: pod.imagePullPolicy } : {}), ...(pod.env?.length ? { env: pod.env } : {}) }],
      pullSecrets: this.keyringFor(pod.imagePullSecrets, node),
    });
  }

  // A pull secret's .dockerconfigjson names the hosts it holds credentials for, as `kubectl create secret docker-registry` writes it.
  private keyringFor(names: string[], node: EmulatedNode): Keyring {
    const hosts = this.poolOf.get(node.name)!.registries.map((r) => r.host);
    const secrets = names.flatMap((name) => {
      const cred = this.opts.pullSecrets.get(name);
      if (!cred) return [];
      const auths = Object.fromEntries((cred.hosts ?? hosts).map((h) => [h, { username: cred.username, password: cred.password }]));
      return [{ metadata: { name }, type: SECRET_TYPE_DOCKER_CONFIG_JSON, stringData: { '.dockerconfigjson': JSON.stringify({ auths }) } }];
    });
    return Keyring.forPod({ secrets });
  }

  deletePod(uid: string): void {
    const entry = this.pods.get(uid);
    if (!entry || entry.observation.deletedAt !== undefined) return;
    entry.node.deletePod(uid);
    entry.observation.deletedAt = this.opts.clock.now();
  }

  condition(uid: string): PodCondition {
    return this.pods.get(uid)?.condition ?? 'pending';
  }

  onChange(listener: (uid?: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async nodeImages(node: string): Promise<string[]> {
    const index = this.nodes.indexOf(node);
    const runtime = this.runtimes[index];
    if (!runtime) return [];
    return (await runtime.listImages()).flatMap((i) => i.repoTags);
  }

  /** Puts images on every node through the runtime, as a warm-up pull or an image-preloading DaemonSet would. */
  async prepull(images: string[], auth?: BasicCredentials): Promise<void> {
    await Promise.all(this.runtimes.map(async (runtime) => {
      for (const image of images) await runtime.pullImage(image, auth);
    }));
  }

  /** A fresh emulated cluster has a cold cache: nothing to empty. */
  async makeCold(): Promise<boolean> {
    return false;
  }

  /** The emulated nodes record every event they write. */
  assertEnoughData(): void {}

  /**
   * Bytes the nodes' shaped links carried down, by destination (unshaped routes are not counted); of one pool's nodes
   * with `pool`; peers: what the nodes fetched from each other (the whole cluster's).
   */
  linkBytes(pool?: string): LinkBytes {
    const sum: LinkBytes = { registry: 0, mirror: 0, ...(this.peers && pool === undefined ? { peers: this.peers.stats().peerBytes } : {}) };
    for (const p of this.proxies) if (pool === undefined || p.pool === pool) sum[p.kind] += p.proxy.stats().bytesDown;
    this.runtimes.forEach((runtime, i) => {
      if (pool !== undefined && this.poolOf.get(this.nodes[i]!)?.name !== pool) return;
      for (const [route, bytes] of Object.entries(runtime.stats().linkBytesDown ?? {})) {
        const kind = route.split(':')[0];
        if (kind === 'registry' || kind === 'mirror') sum[kind] += bytes;
      }
    });
    return sum;
  }

  /** Topology p2p: what the P2P agents did (uploads per node, hits, fallbacks). */
  p2pStats(): P2pStats | undefined {
    return this.peers?.stats();
  }

  events(): KubeEvent[] {
    return [...this.recorded];
  }

  observations(): PodObservation[] {
    return [...this.pods.values()].map((p) => ({ ...p.observation }));
  }

  versions(): Record<string, string> {
    const containerd = this.runtimes.find((r): r is ContainerdRuntime => r instanceof ContainerdRuntime);
    const settings = this.settings();
    // Pools on other releases than the first are named: `kubernetesVersion@edge`.
    const perPool = (key: string, of: (p: EmulatedPool) => string): Record<string, string> => {
      const first = of(this.fleet[0]!);
      return Object.fromEntries([[key, first], ...this.fleet.filter((p) => of(p) !== first).map((p) => [`${key}@${p.name}`, of(p)])]);
    };
    const kubelet = perPool('kubernetesVersion', (p) => kubeletProfile(p.kubernetesVersion).version);
    const containerdVersions = perPool('containerdVersion', (p) => containerdProfile(p.containerdVersion).version);
    if (this.opts.runtimes) return { runtime: this.opts.runtimes.driver, ...kubelet, ...containerdVersions, ...settings };
    return {
      ...settings,
      runtime: this.opts.runtime,
      ...kubelet,
      ...(this.opts.runtime === 'embedded' ? { layerStore: this.layerStore, ...containerdVersions } : {}),
      ...(containerd ? { containerd: containerd.daemon.version } : {}),
    };
  }

  // The settings the nodes run with, after kubelet's defaulting (the same keys a real cluster's /configz gives).
  private settings(): Record<string, string> {
    // A real containerd older than 1.7 has no progress timeout (a scenario that sets one is refused at its start).
    const daemon = this.runtimes.find((r): r is ContainerdRuntime => r instanceof ContainerdRuntime)?.daemon;
    const progressTimeout = (ms: number | undefined): string =>
      daemon && !hasImagePullProgressTimeout(daemon.version) ? 'unsupported' : formatGoDuration(ms ?? DEFAULT_IMAGE_PULL_PROGRESS_TIMEOUT_MS);
    const perNode = [...this.byName.values()].map((node) => {
      const s = node.images.settings;
      const kubelet = this.poolOf.get(node.name)!.kubelet;
      return {
        'kubelet.serializeImagePulls': String(s.serializeImagePulls),
        ...(s.maxParallelImagePulls !== undefined ? { 'kubelet.maxParallelImagePulls': String(s.maxParallelImagePulls) } : {}),
        'kubelet.registryPullQPS': String(s.registryPullQPS),
        'kubelet.registryBurst': String(s.registryBurst),
        'kubelet.ensureSecretPulledImages': String(kubelet.ensureSecretPulledImages),
        'containerd.max_concurrent_downloads': String(kubelet.maxConcurrentDownloads ?? DEFAULT_MAX_CONCURRENT_DOWNLOADS),
        'containerd.image_pull_progress_timeout': progressTimeout(kubelet.imagePullProgressTimeout),
      };
    });
    return mergeNodeSettings(perNode);
  }

  private onEvent(event: KubeEvent): void {
    this.recorded.push(event);
    const entry = this.pods.get(event.involvedObject.uid);
    if (!entry || event.involvedObject.kind !== 'Pod') return;
    const status = entry.node.status(entry.create.uid);
    let condition: PodCondition = 'pending';
    if (status?.phase === 'Running' || event.reason === 'Started') condition = 'ready';
    else {
      const waiting = status?.containers.find((c) => c.status.state === 'waiting' && c.status.reason !== 'ContainerCreating');
      if (waiting && waiting.status.state === 'waiting') {
        condition = 'failed';
        entry.observation.waitingReason = waiting.status.reason;
      } else if (event.reason === 'Failed' && event.message.startsWith('Error: ')) {
        condition = 'failed';
        entry.observation.waitingReason = event.message.slice('Error: '.length);
      }
    }
    if (condition === 'ready') {
      entry.observation.readyAt ??= event.timestamp;
      delete entry.observation.waitingReason;
    }
    if (condition !== entry.condition) {
      entry.condition = condition;
      for (const l of this.listeners) l(entry.create.uid);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.disposing ??= this.dispose().finally(() => this.unregister());
    return this.disposing;
  }

  private async dispose(): Promise<void> {
    for (const uid of this.pods.keys()) this.deletePod(uid);
    traceExit(`cluster: ${this.pods.size} pods deleted`);
    const errors: unknown[] = [];
    const runtimes = this.runtimes.splice(0);
    // Interrupted: worker-hosted runtimes end with their threads (terminated below), their directories with nodesDir;
    // one by one, 5,000 of them took seconds. Otherwise (and for a containerd per node) each is disposed, all at once.
    if (!(this.opts.signal?.aborted && this.pool)) {
      await Promise.all(runtimes.map((r) => Promise.resolve(r[Symbol.asyncDispose]()).catch((e: unknown) => errors.push(e))));
    }
    await Promise.all(this.proxies.splice(0).map(({ proxy }) => proxy.close().catch((e: unknown) => errors.push(e))));
    await this.peers?.[Symbol.asyncDispose]().catch((e: unknown) => errors.push(e));
    this.peers = undefined;
    await this.contentDir?.remove().catch((e: unknown) => errors.push(e));
    this.contentDir = undefined;
    traceExit('cluster: runtimes, proxies, peers, content done');
    await this.pool?.[Symbol.asyncDispose]().catch((e: unknown) => errors.push(e));
    this.pool = undefined;
    traceExit('cluster: worker threads terminated');
    await this.nodesDir?.remove().catch((e: unknown) => errors.push(e));
    this.nodesDir = undefined;
    if (errors.length > 0) throw errors[0];
  }
}
