import { PullbenchError } from '../errors.js';
import type { Clock } from '../core/clock.js';
import { TaskQueue } from '../util/task-queue.js';
import { criError } from '../node/runtimes/cri-error.js';
import type { ContainerdProfile } from '../node/profiles.js';
import type { ImageInfo, PullAuth, Runtime, RuntimeStats } from '../node/runtime.js';
import type { RegistryHost } from '../oci/hosts.js';
import type { Descriptor } from '../oci/media-types.js';
import { withMirrors } from '../oci/mirror-fetch.js';
import { parseReference } from '../oci/reference.js';
import type { Catalog, CatalogImage } from './catalog.js';
import type { FlowNetwork } from './flow-network.js';
import type { ModelMirror, ModelRegistry, ModelRequest } from './servers.js';
import type { ModelP2p } from './p2p.js';

/** One server as the nodes reach it: the server, its route in the flow network, the link's one-way latency. */
export interface ServerSide {
  server: ModelRegistry;
  route: number;
  latencyMs: number;
  /** A shaped link charges each new connection TCP's handshake (src/net/shaped-socket.ts). */
  shaped: boolean;
}

/** What every model node shares: the clock, the network, the images, the servers. */
export interface ModelWorld {
  clock: Clock;
  network: FlowNetwork;
  catalog: Catalog;
  registry: ServerSide;
  mirror?: ServerSide & { server: ModelMirror };
  maxConcurrentDownloads: number;
  /** The containerd release's pull behaviour: what max_concurrent_downloads bounds, which 5xx it retries. */
  containerd: ContainerdProfile;
  /** Topology p2p: the nodes' agents, each first in its node's hosts. */
  p2p?: ModelP2p;
}

interface ImageRecord {
  name: string;
  tag: string;
  manifestDigest: string;
  configDigest: string;
  size: number;
}

// Idle keep-alive connections per host of one pull phase (HttpPool keeps two per origin).
type Connections = Map<string, number>;
const IDLE_PER_ORIGIN = 2;
// A piece-mode agent's connections to the registry (dfdaemon's backend client keeps up to 1,024 idle per host).
const AGENT_IDLE_PER_ORIGIN = 1024;

/**
 * The embedded runtime's pull (src/node/runtimes/embedded.ts pullWith) in the
 * flow model: resolve on a transport of its own, then the manifest, the config,
 * and the layers max_concurrent_downloads at a time on another; hosts tried as
 * hosts.toml lists them (withMirrors, the same code); blobs fetched once per node
 * however many pulls want them; each request a round trip (plus the handshake on
 * a new connection), the server's queue and service, and its body as a flow.
 */
export class ModelRuntime implements Runtime {
  readonly name = 'model';
  private readonly content = new Set<string>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly images = new Map<string, ImageRecord>();
  private readonly limiter: TaskQueue;
  private readonly hosts: RegistryHost[];
  private readonly counters = { pulls: 0, failedPulls: 0, bytesDownloaded: 0, requests: 0 };
  private readonly linkBytes = { registry: 0, mirror: 0 };
  /** The node's P2P agent's own connections to the registry, over the node's link. */
  private readonly agentConnections: Connections = new Map();

  constructor(
    private readonly world: ModelWorld,
    private readonly endpoint: number,
  ) {
    this.limiter = new TaskQueue(world.maxConcurrentDownloads);
    this.hosts = [
      // As the emulated driver's hosts.toml lists a P2P agent (hostsTomlFor): first, pull, and resolve with resolveTags.
      ...(world.p2p ? [{ url: 'agent', capabilities: world.p2p.resolves ? ['pull', 'resolve'] : ['pull'], isMirror: true } satisfies RegistryHost] : []),
      ...(world.mirror ? [{ url: 'mirror', capabilities: ['pull', 'resolve'], isMirror: true } satisfies RegistryHost] : []),
      { url: 'registry', capabilities: ['pull', 'resolve', 'push'], isMirror: false },
    ];
  }

  async pullImage(image: string, _auth?: PullAuth): Promise<string> {
    const ref = parseReference(image);
    try {
      const entry = this.world.catalog.get(`${ref.path}:${ref.tag ?? ''}`);
      if (!entry || ref.digest) {
        throw new PullbenchError('MANIFEST_UNKNOWN', `manifest ${ref.path}:${ref.reference}: MANIFEST_UNKNOWN: manifest unknown`, { details: { status: 404 } });
      }
      const id = await this.pull(ref.name, ref.tag!, entry);
      this.counters.pulls++;
      return id;
    } catch (err) {
      this.counters.failedPulls++;
      throw criError(ref.toString(), err);
    }
  }

  async imageStatus(image: string): Promise<ImageInfo | undefined> {
    const rec = this.find(image);
    if (!rec) return undefined;
    const same = [...this.images.values()].filter((r) => r.configDigest === rec.configDigest);
    return {
      id: rec.configDigest,
      size: rec.size,
      repoTags: same.map((r) => `${r.name}:${r.tag}`),
      repoDigests: [...new Set(same.map((r) => `${r.name}@${r.manifestDigest}`))],
    };
  }

  async removeImage(image: string): Promise<void> {
    const rec = this.find(image);
    if (!rec) return;
    for (const [key, r] of this.images) if (r.configDigest === rec.configDigest) this.images.delete(key);
  }

  async listImages(): Promise<ImageInfo[]> {
    const ids = new Set([...this.images.values()].map((r) => r.configDigest));
    return Promise.all([...ids].map(async (id) => (await this.imageStatus(id))!));
  }

  stats(): RuntimeStats {
    return { ...this.counters, linkBytesDown: { ...this.linkBytes } };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    /* nothing is open */
  }

  private find(image: string): ImageRecord | undefined {
    if (image.startsWith('sha256:')) return [...this.images.values()].find((r) => r.configDigest === image);
    try {
      const ref = parseReference(image);
      return this.images.get(`${ref.name}:${ref.tag ?? ''}`);
    } catch {
      return undefined;
    }
  }

  private async pull(name: string, tag: string, img: CatalogImage): Promise<string> {
    const resolving: Connections = new Map();
    const fetching: Connections = new Map();
    const { containerd } = this.world;
    // containerd 2.1 retries a 5xx on the last host once (mirror-fetch.ts); 1.7 and 2.0 do not.
    const retry = { retryServerErrorsOnLastHost: containerd.retriesServerErrorsOnLastHost };
    // max_concurrent_downloads: node-wide in 2.1 (the transfer service's limiter), per pull in 1.7 and 2.0
    // (src/node/profiles.ts downloadLimit; as EmbeddedRuntime.pullWith chooses it).
    const limiter = containerd.downloadLimit === 'node' ? this.limiter : new TaskQueue(this.world.maxConcurrentDownloads);
    await withMirrors(this.hosts, 'resolve', (h) => this.request(h, resolving, { kind: 'manifestHead', repo: img.repo, reference: tag, bytes: 0 }), retry);
    const fetch = (kind: 'manifestGet' | 'blobGet', d: Descriptor): Promise<void> =>
      this.fetchOnce(d.digest, () => limiter.run(() => withMirrors(this.hosts, 'pull', (h) => this.request(h, fetching, { kind, repo: img.repo, reference: d.digest, bytes: d.size }), retry)));
    const small = (d: Descriptor): Promise<void> => fetch('manifestGet', d);
    const blob = (d: Descriptor): Promise<void> => fetch('blobGet', d);
    await small(img.root);
    if (img.manifest) await small(img.manifest);
    // The layers wait for the config (containerd's unpacker needs its diff ids), then go max_concurrent_downloads at a time.
    await blob(img.config);
    const settled = await Promise.allSettled(img.layers.map(blob));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const size = img.root.size + (img.manifest?.size ?? 0) + img.config.size + img.layers.reduce((n, l) => n + l.size, 0);
    this.images.set(`${name}:${tag}`, { name, tag, manifestDigest: img.root.digest, configDigest: img.config.digest, size });
    this.world.p2p?.imageCreated(this.endpoint - 1, img.repo, tag);
    return img.config.digest;
  }

  private async fetchOnce(digest: string, fetcher: () => Promise<void>): Promise<void> {
    if (this.content.has(digest)) return;
    let p = this.inflight.get(digest);
    if (!p) {
      p = fetcher()
        .then(() => {
          this.content.add(digest);
          this.world.p2p?.committed(this.endpoint - 1, digest);
        })
        .finally(() => this.inflight.delete(digest));
      this.inflight.set(digest, p);
    }
    await p;
  }

  // One HTTP request over the node's link: handshake on a new connection, the request up, the server, the body down.
  private async request(host: RegistryHost, connections: Connections, req: ModelRequest): Promise<void> {
    if (host.url === 'agent') {
      // The node's own P2P agent: no link between them; its peers, its own requests to the registry, or its 404.
      this.counters.requests++;
      await this.world.p2p!.request(this.endpoint - 1, req, (r) => this.overLink(this.hosts.at(-1)!, this.agentConnections, r, AGENT_IDLE_PER_ORIGIN));
      this.counters.bytesDownloaded += req.bytes;
      return;
    }
    this.counters.requests++;
    await this.overLink(host, connections, req, IDLE_PER_ORIGIN);
    this.counters.bytesDownloaded += req.bytes;
  }

  private async overLink(host: RegistryHost, connections: Connections, req: ModelRequest, maxIdle: number): Promise<void> {
    const side = host.isMirror ? this.world.mirror! : this.world.registry;
    const { clock, network } = this.world;
    const idle = connections.get(host.url) ?? 0;
    if (idle > 0) connections.set(host.url, idle - 1);
    const handshake = idle === 0 && side.shaped ? 2 * side.latencyMs : 0;
    try {
      if (handshake + side.latencyMs > 0) await clock.sleep(handshake + side.latencyMs);
      await side.server.handle(req);
      if (side.latencyMs > 0) await clock.sleep(side.latencyMs);
      await network.transfer(this.endpoint, side.route, req.bytes);
      if (host.isMirror && req.kind === 'blobGet') await this.world.mirror!.server.blobReady(req.reference);
      if (side.shaped) this.linkBytes[host.isMirror ? 'mirror' : 'registry'] += req.bytes;
    } finally {
      connections.set(host.url, Math.min(maxIdle, (connections.get(host.url) ?? 0) + 1));
    }
  }
}
