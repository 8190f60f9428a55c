import { randomUUID } from 'node:crypto';
import { useProxy, type ProxyEnv } from '../../../net/proxy-env.js';
import { startShapedProxy, SharedUplink, type LinkSpec, type ShapedRouteSpec, type StartedProxy } from '../../../net/index.js';
import type { Clock } from '../../../core/clock.js';
import { EmulatedNode } from '../../../node/kubelet.js';
import type { Runtime } from '../../../node/runtime.js';
import { ContainerdRuntime } from '../../../node/runtimes/containerd.js';
import { EmbeddedRuntime, type LayerStoreKind } from '../../../node/runtimes/embedded.js';
import { containerdProfile, DEFAULT_MAX_CONCURRENT_DOWNLOADS, kubeletProfile } from '../../../node/profiles.js';
import type { KubeletImagePullSettings } from '../../../node/kubelet/config.js';
import { mergeNodeSettings } from '../../kube/kubelet-settings.js';
import { Keyring, SECRET_TYPE_DOCKER_CONFIG_JSON, type BasicCredentials } from '../../../oci/credentials.js';
import type { Cluster, PodCondition, PodCreate } from '../../cluster.js';
import type { KubeEvent, PodObservation } from '../../../core/events.js';
import { emulationWorkers, RuntimeWorkers } from '../../../node/runtimes/worker-runtimes.js';
import { PeerNetwork, type P2pOptions, type P2pStats } from '../../../node/p2p/index.js';
import { AdvertisingRuntime } from '../../../node/p2p/advertising-runtime.js';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, type TempDir } from '../../../util/temp.js';

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
  ensureSecretPulledImages: boolean;
}

/** A way from the nodes to a registry: its real address, and how fast the way is. */
export interface Route {
  /** host:port the traffic goes to. */
  target: string;
  /** No link: the nodes reach the target directly, unshaped. */
  link?: RouteLink;
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

export interface EmulatedClusterOptions {
  nodes: number;
  runtime: 'embedded' | 'containerd';
  /** The embedded runtimes' layer store (default disk: containerd's work per pull). */
  layerStore?: LayerStoreKind;
  /** The kubelet release the nodes follow (default DEFAULT_KUBERNETES_VERSION). */
  kubernetesVersion?: string;
  /** The containerd release the embedded runtimes follow (default DEFAULT_CONTAINERD_VERSION). */
  containerdVersion?: string;
  kubelet: EmulatedKubelet;
  clock: Clock;
  /** The registry host in image references (host:port). */
  registryHost: string;
  registry: Route;
  /** With a mirror: nodes try it first (hosts.toml), then the registry. */
  mirror?: Route;
  /** A proxy hop: HTTP_PROXY / NO_PROXY in every node's runtime environment. */
  proxy?: NodeProxy;
  /** Scenario pull secrets by name. */
  pullSecrets: Map<string, BasicCredentials>;
  /** Node name prefix, e.g. `arm1-node`. */
  namePrefix?: string;
  /**
   * Runtimes made by the caller instead of started here (the `model` driver's runtimes in virtual time): the
   * nodes, kubelets and pod bookkeeping stay this cluster's, `runtime` and `workers` are then unused.
   */
  runtimes?: { driver: string; create(node: string, index: number): Runtime };
  /** Worker threads for the embedded runtimes (0: all in this thread); default PULLBENCH_EMULATION_WORKERS or automatic by node count, see emulationWorkers(). */
  workers?: number;
  /** Topology p2p: a P2P agent per node, listed first in its hosts.toml (src/node/p2p). */
  p2p?: P2pOptions;
}

interface PodEntry {
  create: PodCreate;
  node: EmulatedNode;
  observation: PodObservation;
  condition: PodCondition;
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
  private readonly byName = new Map<string, EmulatedNode>();
  private readonly runtimes: Runtime[] = [];
  private readonly proxies: { kind: 'registry' | 'mirror'; proxy: StartedProxy }[] = [];
  private readonly pods = new Map<string, PodEntry>();
  private readonly listeners = new Set<(uid?: string) => void>();
  private readonly recorded: KubeEvent[] = [];
  private pool: RuntimeWorkers | undefined;
  private peers: PeerNetwork | undefined;
  private contentDir: TempDir | undefined;

  private get layerStore(): LayerStoreKind {
    return this.opts.layerStore ?? 'disk';
  }

  private constructor(private readonly opts: EmulatedClusterOptions) {
    this.driver = opts.runtimes?.driver ?? 'emulated';
    this.nodes = Array.from({ length: opts.nodes }, (_, i) => `${opts.namePrefix ?? 'node'}-${i + 1}`);
  }

  static async start(opts: EmulatedClusterOptions): Promise<EmulatedCluster> {
    const cluster = new EmulatedCluster(opts);
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
    const uplinks = {
      registry: opts.registry.link?.sharedUplink ? new SharedUplink(opts.registry.link.sharedUplink) : undefined,
      mirror: opts.mirror?.link?.sharedUplink ? new SharedUplink(opts.mirror.link.sharedUplink) : undefined,
    };
    const via = async (kind: 'registry' | 'mirror', route: Route, uplink: SharedUplink | undefined): Promise<string> => {
      if (!route.link) return route.target;
      const proxy = await startShapedProxy({ target: route.target, link: toLinkSpec(route.link), ...(uplink ? { uplink } : {}) });
      this.proxies.push({ kind, proxy });
      return proxy.host;
    };
    const workers = opts.runtime === 'embedded' && !opts.runtimes ? (opts.workers ?? emulationWorkers(process.env, opts.nodes)) : 0;
    if (workers > 0) this.pool = new RuntimeWorkers(workers);
    // Embedded runtimes: the links as data, applied by each runtime to its own connections. A shared uplink is one
    // per thread (keyed per cluster), its threads' shares counted in one array: one slot per worker.
    const clusterKey = randomUUID();
    const counts = { registry: new SharedArrayBuffer(4 * Math.max(workers, 1)), mirror: new SharedArrayBuffer(4 * Math.max(workers, 1)) };
    const routesFor = (worker: number | undefined): ShapedRouteSpec[] =>
      (['registry', 'mirror', 'proxy'] as const).flatMap((kind) => {
        const route = kind === 'registry' ? opts.registry : kind === 'mirror' ? opts.mirror : opts.proxy?.route;
        if (!route?.link) return [];
        const shared = route.link.sharedUplink;
        // The proxy link carries registry traffic: its bytes count as the registry's.
        const name = kind === 'proxy' ? 'registry' : kind;
        const uplink = shared
          ? { key: `${clusterKey}:${kind}`, bandwidthBps: shared, ...(worker !== undefined ? { shares: { counts: counts[name], slot: worker } } : {}) }
          : undefined;
        return [{ name, target: route.target, link: toLinkSpec(route.link), ...(uplink ? { uplink } : {}) }];
      });
    // Only the inflate-only store shapes its own connections (in whichever thread it runs). The disk store's layer
    // threads open plain connections, so it crosses the same shaped proxies as containerd: the link is alike for both.
    // A P2P agent reaches the registry over its node's link (piece mode), so the links are proxies then.
    const selfShaped = opts.runtime === 'embedded' && this.layerStore === 'inflate-only' && !opts.p2p;
    if (opts.p2p) {
      this.peers = await PeerNetwork.start(opts.p2p, opts.clock);
      this.contentDir = await makeTempDir('pbcontent-');
    }
    for (const [index, name] of this.nodes.entries()) {
      if (opts.runtimes) {
        const runtime = opts.runtimes.create(name, index);
        this.runtimes.push(runtime);
        this.addNode(name, runtime);
        continue;
      }
      const proxyEnv = opts.proxy ? await this.proxyEnv(opts.proxy, selfShaped, via) : undefined;
      // A proxied host is named by its alias (the proxy resolves it); one NO_PROXY bypasses is reached directly, over its link.
      const proxied = (alias: string): boolean => proxyEnv !== undefined && useProxy(alias.split(':')[0]!, alias.split(':')[1]!, proxyEnv.NO_PROXY ?? '');
      const registryHost = proxied(PROXY_ALIASES.registry) ? PROXY_ALIASES.registry : selfShaped ? opts.registry.target : await via('registry', opts.registry, uplinks.registry);
      const mirrorHost = !opts.mirror ? undefined : proxied(PROXY_ALIASES.mirror) ? PROXY_ALIASES.mirror : selfShaped ? opts.mirror.target : await via('mirror', opts.mirror, uplinks.mirror);
      const agent = this.peers ? await this.peers.addNode({ registryHost }) : undefined;
      const hostsToml = { [opts.registryHost]: hostsTomlFor(registryHost, mirrorHost, agent, opts.p2p) };
      const contentRoot = this.contentDir ? join(this.contentDir.path, name) : undefined;
      if (contentRoot) await mkdir(contentRoot);
      const embedded = {
        label: name, hostsToml, maxConcurrentDownloads: opts.kubelet.maxConcurrentDownloads ?? DEFAULT_MAX_CONCURRENT_DOWNLOADS, layerStore: this.layerStore,
        containerdVersion: containerdProfile(opts.containerdVersion).version, ...(contentRoot ? { contentRoot } : {}),
        ...(proxyEnv ? { proxy: proxyEnv } : {}),
      };
      const runtime: Runtime =
        opts.runtime === 'containerd'
          ? await ContainerdRuntime.start({ label: name, hostsToml, maxConcurrentDownloads: opts.kubelet.maxConcurrentDownloads ?? DEFAULT_MAX_CONCURRENT_DOWNLOADS, ...(proxyEnv ? { proxyEnv: { ...proxyEnv } } : {}) })
          : this.pool
            ? await this.pool.start((worker) => ({ ...embedded, ...(selfShaped ? { routes: routesFor(worker) } : {}) }))
            : await EmbeddedRuntime.start({ ...embedded, ...(selfShaped ? { routes: routesFor(undefined) } : {}) });
      this.runtimes.push(runtime);
      const peers = this.peers;
      if (peers) {
        // Spegel reads the node's containerd content store (its --containerd-content-path).
        peers.setContentRoot(index, runtime instanceof ContainerdRuntime ? join(runtime.daemon.root, 'io.containerd.content.v1.content') : contentRoot!);
        this.addNode(name, new AdvertisingRuntime(runtime, (...image) => peers.imageCreated(index, ...image)));
      } else this.addNode(name, runtime);
    }
  }

  // HTTP_PROXY (with the credentials as user info, as containerd's service environment carries them) and NO_PROXY.
  private async proxyEnv(p: NodeProxy, selfShaped: boolean, via: (kind: 'registry' | 'mirror', route: Route, uplink: SharedUplink | undefined) => Promise<string>): Promise<ProxyEnv> {
    const host = selfShaped || !p.route.link ? p.route.target : await via('registry', p.route, undefined);
    const user = p.credentials ? `${encodeURIComponent(p.credentials.username)}:${encodeURIComponent(p.credentials.password)}@` : '';
    const url = `http://${user}${host}`;
    return { HTTP_PROXY: url, HTTPS_PROXY: url, ...(p.noProxy.length > 0 ? { NO_PROXY: p.noProxy.join(',') } : {}) };
  }

  private addNode(name: string, runtime: Runtime): void {
    const k = this.opts.kubelet;
    const node = new EmulatedNode({
      name,
      runtime,
      clock: this.opts.clock,
      kubelet: kubeletProfile(this.opts.kubernetesVersion),
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
      containers: [{ name: 'app', image: pod.image, ...(pod.imagePullPolicy ? { imagePullPolicy: pod.imagePullPolicy } : {}) }],
      pullSecrets: this.keyringFor(pod.imagePullSecrets),
    });
  }

  private keyringFor(names: string[]): Keyring {
    const secrets = names.flatMap((name) => {
      const cred = this.opts.pullSecrets.get(name);
      if (!cred) return [];
      const auths = { [this.opts.registryHost]: { username: cred.username, password: cred.password } };
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

  /** Bytes the nodes' shaped links carried down, by destination (unshaped routes are not counted); peers: what the nodes fetched from each other. */
  linkBytes(): { registry: number; mirror: number; peers?: number } {
    const sum: { registry: number; mirror: number; peers?: number } = { registry: 0, mirror: 0, ...(this.peers ? { peers: this.peers.stats().peerBytes } : {}) };
    for (const { kind, proxy } of this.proxies) sum[kind] += proxy.stats().bytesDown;
    for (const runtime of this.runtimes) {
      const links = runtime.stats().linkBytesDown;
      sum.registry += links?.registry ?? 0;
      sum.mirror += links?.mirror ?? 0;
    }
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
    if (this.opts.runtimes) {
      return { runtime: this.opts.runtimes.driver, kubernetesVersion: kubeletProfile(this.opts.kubernetesVersion).version, containerdVersion: containerdProfile(this.opts.containerdVersion).version, ...settings };
    }
    return {
      ...settings,
      runtime: this.opts.runtime,
      kubernetesVersion: kubeletProfile(this.opts.kubernetesVersion).version,
      ...(this.opts.runtime === 'embedded' ? { layerStore: this.layerStore, containerdVersion: containerdProfile(this.opts.containerdVersion).version } : {}),
      ...(containerd ? { containerd: containerd.daemon.version } : {}),
    };
  }

  // The settings the nodes run with, after kubelet's defaulting (the same keys a real cluster's /configz gives).
  private settings(): Record<string, string> {
    const perNode = [...this.byName.values()].map((node) => {
      const s = node.images.settings;
      return {
        'kubelet.serializeImagePulls': String(s.serializeImagePulls),
        ...(s.maxParallelImagePulls !== undefined ? { 'kubelet.maxParallelImagePulls': String(s.maxParallelImagePulls) } : {}),
        'kubelet.registryPullQPS': String(s.registryPullQPS),
        'kubelet.registryBurst': String(s.registryBurst),
        'kubelet.ensureSecretPulledImages': String(this.opts.kubelet.ensureSecretPulledImages),
        'containerd.max_concurrent_downloads': String(this.opts.kubelet.maxConcurrentDownloads ?? DEFAULT_MAX_CONCURRENT_DOWNLOADS),
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

  async [Symbol.asyncDispose](): Promise<void> {
    for (const uid of this.pods.keys()) this.deletePod(uid);
    const errors: unknown[] = [];
    for (const r of this.runtimes.splice(0)) await Promise.resolve(r[Symbol.asyncDispose]()).catch((e: unknown) => errors.push(e));
    for (const { proxy } of this.proxies.splice(0)) await proxy.close().catch((e: unknown) => errors.push(e));
    await this.peers?.[Symbol.asyncDispose]().catch((e: unknown) => errors.push(e));
    this.peers = undefined;
    await this.contentDir?.remove().catch((e: unknown) => errors.push(e));
    this.contentDir = undefined;
    await this.pool?.[Symbol.asyncDispose]().catch((e: unknown) => errors.push(e));
    this.pool = undefined;
    if (errors.length > 0) throw errors[0];
  }
}
