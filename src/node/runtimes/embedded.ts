import { mkdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PullbenchError, isPullbenchError } from '../../errors.js';
import { RegistryClient } from '../../oci/client.js';
import { parseHostsToml, type HostCapability, type RegistryHost } from '../../oci/hosts.js';
import { MANIFEST_ACCEPT, MediaType, isIndexMediaType, type Descriptor, type ImageIndex } from '../../oci/media-types.js';
import { isProxy, withMirrors } from '../../oci/mirror-fetch.js';
import { HttpPool, fetchTransport, type HttpTransport } from '../../net/http-pool.js';
import { ShapedRoutes, type ShapedRouteSpec } from '../../net/shaped-socket.js';
import { hostPlatform, selectPlatform, type PlatformSpec } from '../../oci/platform.js';
import { parseReference, type ImageReference } from '../../oci/reference.js';
import { coalesce } from '../../util/coalesce.js';
import { makeTempDir, type TempDir } from '../../util/temp.js';
import { TaskQueue } from '../../util/task-queue.js';
import type { ImageInfo, PullAuth, Runtime, RuntimeStats } from '../runtime.js';
import { containerdProfile, type ContainerdProfile } from '../profiles.js';
import { acquireLayerThreads, releaseLayerThreads, type LayerThread } from './layer-thread.js';
import { BlobSink, decompressor } from './layer-store.js';
import { createJournal, META_TX_PER_NEW_LAYER, META_TX_PER_PULL } from './metadata-store.js';

/** The disk store does containerd's work per pull; inflate-only skips the content store (see EmbeddedRuntimeOptions). */
export type LayerStoreKind = 'disk' | 'inflate-only';

export interface EmbeddedRuntimeOptions {
  /** Node name, for errors. */
  label: string;
  /** hosts.toml text by registry host, exactly as for a real containerd's certs.d. */
  hostsToml?: Record<string, string>;
  /** Injectable fetch (a shaped link, or counting in tests). */
  fetch?: typeof fetch;
  /** containerd's CRI max_concurrent_downloads (default 3). */
  maxConcurrentDownloads?: number;
  /** The containerd release whose pull behaviour to follow (default DEFAULT_CONTAINERD_VERSION; see profiles.ts). */
  containerdVersion?: string;
  platform?: PlatformSpec;
  /**
   * Where layer blobs go: `disk` (default) writes each to a per-node content
   * store, then applies it from there to a snapshot file, layer after layer,
   * as containerd 1.6's unpacker does; `inflate-only` verifies and decompresses
   * while downloading and keeps no layer bytes (no writes, syncs, ordered
   * applies or diff-id checks: cheaper, for many nodes, not containerd's timing).
   */
  layerStore?: LayerStoreKind;
  /**
   * Links this node's connections cross, applied in this thread to direct
   * connections (`ShapedRoutes`): the emulated nodes' links without a proxy.
   */
  routes?: ShapedRouteSpec[];
}

interface ImageRecord {
  /** Normalised name with tag, or name@digest when pulled by digest. */
  key: string;
  name: string;
  tag?: string;
  /** The resolved target (manifest, or index): what repoDigests name. */
  manifestDigest: string;
  configDigest: string;
  /** Every content digest the image holds (index, manifest, config, layers). */
  content: string[];
  size: number;
}

interface Content {
  size: number;
  /** Bytes kept for manifests, indexes and configs; layers live on disk or nowhere. */
  bytes?: Buffer;
}

const LAYER_TYPES = new Set<string>([
  MediaType.OciLayerGzip,
  MediaType.DockerLayerGzip,
  MediaType.OciLayerZstd,
  MediaType.OciLayerTar,
  MediaType.DockerForeignLayerGzip,
]);

/**
 * A containerd-like runtime in process: resolves through the hosts.toml host
 * list with containerd's fallback, keeps a per-node content store (one copy of
 * each blob, one download for concurrent pulls of it), limits concurrent blob
 * fetches, verifies every digest and really decompresses every layer.
 */
export class EmbeddedRuntime implements Runtime {
  readonly name = 'embedded';
  private readonly content = new Map<string, Content>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly unpacked = new Map<string, Promise<string>>();
  /**
   * Pulls under way that use each blob, as containerd's leases keep a pull's content from its garbage collector:
   * what one of them uses is not dropped by a removal or by another pull's failure.
   */
  private readonly leases = new Map<string, number>();
  private readonly images = new Map<string, ImageRecord>();
  /** max_concurrent_downloads across the node (containerd 2.1's transfer service); 1.7 and 2.0 make one per pull. */
  private readonly limiter: TaskQueue;
  readonly profile: ContainerdProfile;
  /** The disk store's 1 MiB layer stages, kept between layers. */
  private readonly spareStages: Buffer[] = [];
  private readonly hosts = new Map<string, RegistryHost[]>();
  private readonly counters = { pulls: 0, failedPulls: 0, bytesDownloaded: 0, requests: 0, metadataCommits: 0 };
  /** Set when a fetch was injected; else each pull phase gets keep-alive pools of its own. */
  private readonly injected: HttpTransport | undefined;
  private readonly routes: ShapedRoutes | undefined;
  private dir: TempDir | undefined;
  /** containerd's metadata stores (bbolt) stand-in: appended and synced, one transaction at a time. */
  private journal: FileHandle | undefined;
  private journalTail: Promise<void> = Promise.resolve();
  private journalTx = 0;
  /** The disk store's layer downloads and applies, in a thread of their own. */
  private layers: LayerThread | undefined;

  private constructor(private readonly opts: EmbeddedRuntimeOptions) {
    this.profile = containerdProfile(opts.containerdVersion);
    this.limiter = new TaskQueue(opts.maxConcurrentDownloads ?? 3);
    for (const [host, text] of Object.entries(opts.hostsToml ?? {})) this.hosts.set(host, parseHostsToml(text, host));
    this.injected = opts.fetch ? fetchTransport(opts.fetch) : undefined;
    this.routes = opts.routes && opts.routes.length > 0 ? new ShapedRoutes(opts.routes) : undefined;
  }

  // Every request is counted, whichever transport sends it.
  private counted(transport: HttpTransport): HttpTransport {
    return {
      request: (url, req) => {
        this.counters.requests++;
        return transport.request(url, req);
      },
    };
  }

  static async start(opts: EmbeddedRuntimeOptions): Promise<EmbeddedRuntime> {
    const rt = new EmbeddedRuntime(opts);
    if ((opts.layerStore ?? 'disk') === 'disk') {
      rt.dir = await makeTempDir('pbemb-');
      await mkdir(join(rt.dir.path, 'blobs'), { recursive: true });
      await mkdir(join(rt.dir.path, 'snapshots'), { recursive: true });
      rt.journal = await createJournal(join(rt.dir.path, 'meta.db'));
      // A layer thread per concurrent download (at most MAX_LAYER_THREADS), so that they hash on every core, and one
      // more, so that an apply need not share a thread with a download, as containerd's unpack runs in a goroutine
      // of its own beside its fetches: sharing one, the first layer's apply took 220-330 ms of a 250 MB pull (8
      // layers) where its own took 55-145 ms (timelines, 2026-12-02). Shared with the other runtimes of this thread.
      rt.layers = acquireLayerThreads(Math.min(MAX_LAYER_THREADS, Math.max(1, opts.maxConcurrentDownloads ?? 3)) + 1);
      await rt.layers.started();
    }
    return rt;
  }

  async pullImage(image: string, auth?: PullAuth): Promise<string> {
    let ref: ImageReference;
    try {
      ref = parseReference(image);
    } catch (err) {
      this.counters.failedPulls++;
      throw err;
    }
    const shown = ref.toString();
    try {
      const id = await this.pull(ref, auth);
      this.counters.pulls++;
      return id;
    } catch (err) {
      this.counters.failedPulls++;
      throw criError(shown, err);
    }
  }

  async imageStatus(image: string): Promise<ImageInfo | undefined> {
    const rec = this.find(image);
    return rec ? this.info(rec) : undefined;
  }

  async removeImage(image: string): Promise<void> {
    const rec = this.find(image);
    if (!rec) return;
    for (const [key, r] of this.images) if (r.configDigest === rec.configDigest) this.images.delete(key);
    const live = new Set([...this.images.values()].flatMap((r) => r.content));
    for (const digest of this.content.keys()) if (!live.has(digest) && !this.leases.has(digest)) await this.forget(digest);
  }

  // Drops a blob from the content store, with its unpacked snapshot.
  private async forget(digest: string): Promise<void> {
    this.content.delete(digest);
    this.unpacked.delete(digest);
    if (this.dir) await Promise.all([rm(this.blobPath(digest), { force: true }), rm(this.snapshotPath(digest), { force: true })]);
  }

  async listImages(): Promise<ImageInfo[]> {
    const byId = new Map<string, ImageRecord>();
    for (const rec of this.images.values()) if (!byId.has(rec.configDigest)) byId.set(rec.configDigest, rec);
    return [...byId.values()].map((r) => this.info(r));
  }

  stats(): RuntimeStats {
    if (this.routes === undefined) return { ...this.counters };
    const links = Object.fromEntries(Object.entries(this.routes.stats()).map(([name, s]) => [name, s.bytesDown]));
    return { ...this.counters, linkBytesDown: links };
  }

  /** Bytes held in the content store (each blob once). */
  contentSize(): number {
    let n = 0;
    for (const c of this.content.values()) n += c.size;
    return n;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.routes?.close();
    await this.journalTail.catch(() => undefined);
    if (this.layers) await releaseLayerThreads(this.layers);
    await this.journal?.close();
    await this.dir?.remove();
  }

  private async pull(ref: ImageReference, auth?: PullAuth): Promise<string> {
    const pools: { close(): Promise<void> }[] = [];
    const leased = new Set<string>();
    const lease = (digest: string): void => {
      if (leased.has(digest)) return;
      leased.add(digest);
      this.leases.set(digest, (this.leases.get(digest) ?? 0) + 1);
    };
    try {
      return await this.pullWith(ref, pools, lease, auth);
    } finally {
      for (const digest of leased) {
        const n = this.leases.get(digest)! - 1;
        if (n > 0) this.leases.set(digest, n);
        else this.leases.delete(digest);
      }
      // Nothing stays open after a pull (containerd's idle connections would linger 30 s, then close).
      await Promise.all(pools.map((p) => p.close()));
    }
  }

  private async pullWith(
    ref: ImageReference,
    pools: { close(): Promise<void> }[],
    lease: (digest: string) => void,
    auth?: PullAuth,
  ): Promise<string> {
    const hosts = this.hostsFor(ref.domain);
    // containerd's CRI builds registry hosts (and so a fresh authorizer and a fresh http.Transport)
    // once for Resolve and once for the Fetcher: the registry sees one token, and one connection,
    // for the resolve, and others for the content fetches.
    const phase = (): (<T>(capability: HostCapability, fn: (c: RegistryClient) => Promise<T>) => Promise<T>) => {
      const clients = new Map<string, RegistryClient>();
      const transports = new Map<boolean, HttpTransport>();
      const transportFor = (skipVerify: boolean): HttpTransport => {
        let t = transports.get(skipVerify);
        if (!t) {
          if (this.injected) t = this.injected;
          else {
            const pool = new HttpPool({ insecureSkipVerify: skipVerify, ...(this.routes ? { connect: this.routes.connect } : {}) });
            // Layer blobs go through the layer thread's own connections, unless this thread shapes the links.
            const transport = this.layers && !this.routes && !skipVerify ? this.layers.transport(pool) : pool;
            pools.push(transport);
            t = transport;
          }
          t = this.counted(t);
          transports.set(skipVerify, t);
        }
        return t;
      };
      const client = (host: RegistryHost): RegistryClient => {
        let c = clients.get(host.url);
        if (!c) {
          const url = new URL(host.url);
          c = new RegistryClient({
            baseUrl: url.origin,
            apiPath: url.pathname,
            transport: transportFor(host.skipVerify === true),
            userAgent: 'containerd/pullbench-embedded',
            ...(isProxy(host.url, ref.domain) ? { namespace: ref.domain } : {}),
            ...(host.headers ? { headers: host.headers } : {}),
            ...(auth ? { credentials: auth } : {}),
          });
          clients.set(host.url, c);
        }
        return c;
      };
      const retry = { retryServerErrorsOnLastHost: this.profile.retriesServerErrorsOnLastHost };
      return (capability, fn) => withMirrors(hosts, capability, (h) => fn(client(h)), retry);
    };
    const limiter = this.profile.downloadLimit === 'node' ? this.limiter : new TaskQueue(this.opts.maxConcurrentDownloads ?? 3);
    const resolveVia = phase();
    const via = phase();

    const root = await resolveVia(ref.digest ? 'pull' : 'resolve', (c) => c.resolve(ref.path, ref.reference, MANIFEST_ACCEPT));
    const content: string[] = [];
    let size = 0;
    let fresh = false;
    const fetchSmall = async (desc: Descriptor): Promise<Buffer> => {
      lease(desc.digest);
      fresh =
        (await this.fetchOnce(desc.digest, () =>
          limiter.run(async () => {
            const m = await via('pull', (c) => c.getManifest(ref.path, desc.digest, desc.mediaType || MANIFEST_ACCEPT));
            this.counters.bytesDownloaded += m.bytes.length;
            await this.commitSmall(desc.digest, m.bytes);
            this.content.set(desc.digest, { size: m.bytes.length, bytes: m.bytes });
          }),
        )) || fresh;
      content.push(desc.digest);
      size += this.content.get(desc.digest)!.size;
      return this.content.get(desc.digest)!.bytes!;
    };

    let manifestDesc = root;
    let manifestBytes = await fetchSmall(root);
    if (isIndexMediaType(root.mediaType) || isIndexMediaType(mediaTypeOf(manifestBytes))) {
      const index = parseJson<ImageIndex>(manifestBytes, 'image index');
      manifestDesc = selectPlatform(index, this.opts.platform ?? hostPlatform());
      manifestBytes = await fetchSmall(manifestDesc);
    }
    const manifest = parseJson<{ config?: Descriptor; layers?: Descriptor[] }>(manifestBytes, 'image manifest');
    if (!manifest.config || !Array.isArray(manifest.layers)) {
      throw new PullbenchError('INVALID_MANIFEST', `manifest ${manifestDesc.digest} has no config or layers`);
    }
    const config = manifest.config;
    const layers = manifest.layers;
    for (const l of layers) {
      if (!LAYER_TYPES.has(l.mediaType)) throw new PullbenchError('INVALID_MANIFEST', `unsupported layer media type ${l.mediaType}`);
    }
    // containerd 1.6's unpacker holds a manifest's layers back until its config is fetched (the config names their
    // diff ids), then fetches them max_concurrent_downloads at a time and applies each, in order, once it is fetched
    // and the one below it applied (unpacker.go: unpack, fetch). The inflate-only store keeps no layer to apply: it
    // decompresses each as it downloads.
    for (const d of [config, ...layers]) lease(d.digest);
    await this.fetchBlob(ref, config, via, limiter, false);
    const diffIds = this.dir ? diffIdsOf(this.content.get(config.digest)!.bytes!, layers.length) : [];
    const fetches = layers.map((l) => this.fetchBlob(ref, l, via, limiter, true));
    // Awaited in order below, and all of them in the end: one that fails while an earlier one is awaited is not an
    // unhandled rejection meanwhile.
    for (const f of fetches) f.catch(() => undefined);
    try {
      for (const [i, l] of layers.entries()) {
        const fresh = await fetches[i]!;
        if (!this.dir) continue;
        const actual = await this.unpack(l);
        if (actual !== diffIds[i]) {
          await Promise.allSettled(fetches);
          // A layer this pull fetched is not kept; one another image holds, or another pull under way uses, stays.
          if (fresh && this.leases.get(l.digest) === 1) await this.forget(l.digest);
          throw new PullbenchError('DIGEST_MISMATCH', `wrong diff id calculated on extraction "${actual}"`, {
            details: { layer: l.digest, expected: diffIds[i], actual },
          });
        }
        if (fresh) await this.commitMetadata(`layer ${l.digest}`, META_TX_PER_NEW_LAYER);
      }
    } finally {
      // Nothing of a failed pull is left running: its other fetches end (and store what verified) first.
      await Promise.allSettled(fetches);
    }
    // The image record, leases and CRI's own bookkeeping: one transaction more when anything was new.
    await this.commitMetadata(`image ${ref.toString()}`, META_TX_PER_PULL + (fresh ? 1 : 0));
    content.push(config.digest, ...layers.map((l) => l.digest));
    size += config.size + layers.reduce((n, l) => n + l.size, 0);

    const record: ImageRecord = {
      key: '',
      name: ref.name,
      // containerd's image target is what the reference resolved to (the index, for a multi-platform image).
      manifestDigest: root.digest,
      configDigest: config.digest,
      content,
      size,
      ...(ref.digest ? {} : { tag: ref.tag }),
    };
    const key = ref.digest ? `${ref.name}@${ref.digest}` : `${ref.name}:${ref.tag}`;
    this.images.set(key, { ...record, key });
    return config.digest;
  }

  private fetchBlob(
    ref: ImageReference,
    desc: Descriptor,
    via: <T>(capability: HostCapability, fn: (c: RegistryClient) => Promise<T>) => Promise<T>,
    limiter: TaskQueue,
    isLayer: boolean,
  ): Promise<boolean> {
    return this.fetchOnce(desc.digest, () =>
      limiter.run(() =>
        (async () => {
          if (isLayer && this.dir) {
            await this.storeLayer(ref, desc, via);
            return;
          }
          // Like containerd's fetcher, hosts are tried until one answers; a body that fails later fails the pull.
          const blob = await via('pull', (c) => c.getBlob(ref.path, desc.digest));
          const received = this.counting(blob.body);
          if (!isLayer) {
            const chunks: Buffer[] = [];
            await pipeline(blob.body, collect(chunks));
            const bytes = Buffer.concat(chunks);
            await this.commitSmall(desc.digest, bytes);
            this.content.set(desc.digest, { size: bytes.length, bytes });
          } else {
            await pipeline(blob.body, coalesce(), decompressor(desc.mediaType), discard());
            this.content.set(desc.digest, { size: received() });
          }
        })(),
      ),
    );
  }

  // A layer into the disk store's content store: saved by the layer thread where the transport goes through it, else
  // streamed here. The verified bytes are committed (synced, renamed) only when the digest matched.
  private async storeLayer(
    ref: ImageReference,
    desc: Descriptor,
    via: <T>(capability: HostCapability, fn: (c: RegistryClient) => Promise<T>) => Promise<T>,
  ): Promise<void> {
    const path = this.blobPath(desc.digest);
    const partial = `${path}.partial-${process.pid}-${Math.random().toString(36).slice(2)}`;
    try {
      // Like containerd's fetcher, hosts are tried until one answers; a body that fails later fails the pull.
      const blob = await via('pull', (c) => c.getBlob(ref.path, desc.digest, { saveTo: { partial, path } }));
      let size: number;
      if (blob.saved) {
        try {
          size = await blob.saved;
        } catch (err) {
          this.counters.bytesDownloaded += (err as { bytesReceived?: number }).bytesReceived ?? 0;
          throw err;
        }
        this.counters.bytesDownloaded += size;
      } else {
        const received = this.counting(blob.body);
        await pipeline(blob.body, await BlobSink.open(partial, this.spareStages));
        await rename(partial, path);
        size = received();
      }
      this.content.set(desc.digest, { size });
    } finally {
      await rm(partial, { force: true });
    }
  }

  // Counts a body's bytes as they go by (beside the pipes, not in a stream of its own: one hop less per chunk), and
  // holds the body until its pipeline is built (the disk store opens its file first), so no chunk goes by uncounted
  // or unwritten. Returns the count so far.
  private counting(body: Readable): () => number {
    let n = 0;
    body.on('data', (chunk: Buffer) => {
      n += chunk.length;
      this.counters.bytesDownloaded += chunk.length;
    });
    body.pause();
    return () => n;
  }

  // A blob already stored is not fetched; a blob being fetched is awaited, not fetched twice.
  // True for the call that fetched it.
  private async fetchOnce(digest: string, fetcher: () => Promise<void>): Promise<boolean> {
    if (this.content.has(digest)) return false;
    let p = this.inflight.get(digest);
    if (p) {
      await p;
      return false;
    }
    p = fetcher().finally(() => this.inflight.delete(digest));
    this.inflight.set(digest, p);
    await p;
    return true;
  }

  // Manifests, indexes and configs go to the content store too, synced before the rename like every blob there.
  private async commitSmall(digest: string, bytes: Buffer): Promise<void> {
    if (!this.dir) return;
    const partial = `${this.blobPath(digest)}.partial-${process.pid}-${Math.random().toString(36).slice(2)}`;
    await this.layers!.save(partial, this.blobPath(digest), bytes);
  }

  // `transactions` bbolt-style commits, in one job on a layer thread (metadata-store.ts); one writer at a time, as
  // bbolt allows.
  private commitMetadata(what: string, transactions: number): Promise<void> {
    const journal = this.journal;
    if (!journal) return Promise.resolve();
    const run = async (): Promise<void> => {
      const firstTx = this.journalTx;
      this.journalTx += transactions;
      this.counters.metadataCommits += transactions;
      await this.layers!.commit(journal.fd, what, firstTx, transactions);
    };
    const next = this.journalTail.then(run, run);
    this.journalTail = next.catch(() => undefined);
    return next;
  }

  // One apply per layer: a second pull of the same layer waits for the first, and gets its diff id. A failed apply
  // keeps no snapshot, and the next pull applies the layer again.
  private unpack(layer: Descriptor): Promise<string> {
    let p = this.unpacked.get(layer.digest);
    if (!p) {
      const snapshot = this.snapshotPath(layer.digest);
      p = this.layers!.apply(this.blobPath(layer.digest), snapshot, layer.mediaType);
      const applied = p;
      applied.catch(async () => {
        await rm(snapshot, { force: true });
        if (this.unpacked.get(layer.digest) === applied) this.unpacked.delete(layer.digest);
      });
      this.unpacked.set(layer.digest, p);
    }
    return p;
  }

  // The layer's unpacked bytes, written as containerd's snapshotter writes the files it extracts (one tar here: its
  // disk cost, not the per-file work of a real extraction).
  private snapshotPath(digest: string): string {
    return join(this.dir!.path, 'snapshots', digest.replace(':', '-'));
  }

  private blobPath(digest: string): string {
    return join(this.dir!.path, 'blobs', digest.replace(':', '-'));
  }

  private hostsFor(domain: string): RegistryHost[] {
    const configured = this.hosts.get(domain);
    if (configured) return configured;
    return parseHostsToml('', domain);
  }

  private find(image: string): ImageRecord | undefined {
    if (/^sha256:[a-f0-9]{64}$/.test(image)) {
      return [...this.images.values()].find((r) => r.configDigest === image);
    }
    let ref: ImageReference;
    try {
      ref = parseReference(image);
    } catch (err) {
      if (isPullbenchError(err, 'INVALID_IMAGE_NAME')) return undefined;
      throw err;
    }
    if (ref.digest) {
      return (
        this.images.get(`${ref.name}@${ref.digest}`) ??
        [...this.images.values()].find((r) => r.name === ref.name && r.manifestDigest === ref.digest)
      );
    }
    return this.images.get(`${ref.name}:${ref.tag}`);
  }

  private info(rec: ImageRecord): ImageInfo {
    const same = [...this.images.values()].filter((r) => r.configDigest === rec.configDigest);
    return {
      id: rec.configDigest,
      size: rec.size,
      repoTags: same.filter((r) => r.tag !== undefined).map((r) => `${r.name}:${r.tag}`),
      repoDigests: [...new Set(same.map((r) => `${r.name}@${r.manifestDigest}`))],
    };
  }
}

/** Download threads a runtime starts at most, whatever its max_concurrent_downloads: each is a V8 isolate of some MB. */
const MAX_LAYER_THREADS = 8;

function discard(): Writable {
  return new Writable({ write: (_chunk, _enc, cb) => cb() });
}

function collect(chunks: Buffer[]): Writable {
  return new Writable({
    write: (chunk: Buffer, _enc, cb) => {
      chunks.push(chunk);
      cb();
    },
  });
}

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (err) {
    throw new PullbenchError('INVALID_MANIFEST', `${what} is not valid JSON`, { cause: err });
  }
}

// The config's rootfs.diff_ids, one per layer, as containerd's unpacker requires.
function diffIdsOf(config: Buffer, layers: number): string[] {
  const diffIds = parseJson<{ rootfs?: { diff_ids?: unknown } }>(config, 'image config').rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== layers || !diffIds.every((d) => typeof d === 'string')) {
    throw new PullbenchError('INVALID_MANIFEST', `image config has ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff_ids for ${layers} layers`);
  }
  return diffIds as string[];
}

function mediaTypeOf(bytes: Buffer): string | undefined {
  try {
    return (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType;
  } catch {
    return undefined;
  }
}

/** Errors shaped as containerd's CRI reports them, so kubelet messages read the same on both runtimes. */
/** The CRI error kubelet sees for a failed pull (containerd's wording); the model runtime raises the same. */
export function criError(image: string, err: unknown): PullbenchError {
  const cause = err as Error;
  const notFound = isPullbenchError(err, 'MANIFEST_UNKNOWN');
  const desc = notFound
    ? `failed to pull and unpack image "${image}": failed to resolve reference "${image}": ${image}: not found`
    : `failed to pull and unpack image "${image}": ${cause.message}`;
  return new PullbenchError('RUNTIME_ERROR', `rpc error: code = ${notFound ? 'NotFound' : 'Unknown'} desc = ${desc}`, {
    cause: err,
    details: { image, ...(isPullbenchError(err) ? { code: err.code, ...err.details } : {}) },
  });
}

