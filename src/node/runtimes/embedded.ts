import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PullbenchError } from '../../errors.js';
import { MANIFEST_ACCEPT, isIndexMediaType, type Descriptor, type ImageIndex } from '../../oci/media-types.js';
import { fetchTransport, type HttpTransport } from '../../net/http-pool.js';
import { ShapedRoutes, type ShapedRouteSpec } from '../../net/shaped-socket.js';
import type { ProxyEnv } from '../../net/proxy-env.js';
import { hostPlatform, selectPlatform, type PlatformSpec } from '../../oci/platform.js';
import { parseReference, type ImageReference } from '../../oci/reference.js';
import { coalesce } from '../../util/coalesce.js';
import { makeTempDir, type TempDir } from '../../util/temp.js';
import { TaskQueue } from '../../util/task-queue.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { ImageInfo, PullAuth, Runtime, RuntimeStats } from '../runtime.js';
import { containerdProfile, type ContainerdProfile } from '../profiles.js';
import { criError } from './cri-error.js';
import { ImageStore } from './image-store.js';
import { acquireLayerThreads, releaseLayerThreads, type LayerThread } from './layer-thread.js';
import { BlobSink, decompressor } from './layer-store.js';
import { MetadataJournal } from './metadata-journal.js';
import { createJournal, META_TX_PER_LAYER_COMMIT, META_TX_PER_LAYER_INGEST, META_TX_PER_LAYER_UNPACK, META_TX_PER_PULL } from './metadata-store.js';
import { diffIdsOf, manifestParts, mediaTypeOf, parseJson } from './pull-manifest.js';
import { pullPhase, RegistryHosts, type Via } from './registry-hosts.js';
import { DEFAULT_IMAGE_PULL_PROGRESS_TIMEOUT_MS, isPullCanceled, pullCanceled, PullProgress } from './pull-progress.js';

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
  /**
   * The disk store's content store, in containerd's layout (`blobs/<alg>/<hex>`, committed blobs only): default in
   * the runtime's own directory. Given, a node's P2P agent reads it, as Spegel reads containerd's content store.
   */
  contentRoot?: string;
  /**
   * The disk store's directory is made inside this one, which its owner removes (an emulated cluster's node roots,
   * removed with the process's cleanup even when this runtime lives in a worker thread); default the system's temp dir.
   */
  tempParent?: string;
  /** The node's proxy environment, as a containerd service's (HTTP_PROXY, NO_PROXY): Go's choice per request. */
  proxy?: ProxyEnv;
  /**
   * containerd CRI's image_pull_progress_timeout (default 5 min; 0: never): a pull with no progress for this long
   * fails with `context canceled` (see PullProgress, and the profile's progressTracking).
   */
  imagePullProgressTimeoutMs?: number;
  /** The progress check's clock (default the wall clock: the pulls cross real connections). */
  clock?: Clock;
}

interface Content {
  size: number;
  /** Bytes kept for manifests, indexes and configs; layers live on disk or nowhere. */
  bytes?: Buffer;
}

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
  private readonly images = new ImageStore();
  /** max_concurrent_downloads across the node (containerd 2.1's transfer service); 1.7 and 2.0 make one per pull. */
  private readonly limiter: TaskQueue;
  readonly profile: ContainerdProfile;
  /** The disk store's 1 MiB layer stages, kept between layers. */
  private readonly spareStages: Buffer[] = [];
  private readonly hosts: RegistryHosts;
  private readonly counters = { pulls: 0, failedPulls: 0, bytesDownloaded: 0, requests: 0, metadataCommits: 0 };
  /** Set when a fetch was injected; else each pull phase gets keep-alive pools of its own. */
  private readonly injected: HttpTransport | undefined;
  private readonly routes: ShapedRoutes | undefined;
  private dir: TempDir | undefined;
  private contentRoot = '';
  /** containerd's metadata stores (bbolt) stand-in: appended and synced, one transaction at a time. */
  private journal: MetadataJournal | undefined;
  /** The disk store's layer downloads and applies, in a thread of their own. */
  private layers: LayerThread | undefined;

  private constructor(private readonly opts: EmbeddedRuntimeOptions) {
    this.profile = containerdProfile(opts.containerdVersion);
    this.limiter = new TaskQueue(opts.maxConcurrentDownloads ?? 3);
    this.hosts = new RegistryHosts(opts.hostsToml);
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
      rt.dir = await makeTempDir('pbemb-', opts.tempParent ? { parent: opts.tempParent, register: false } : {});
      rt.contentRoot = opts.contentRoot ?? rt.dir.path;
      await mkdir(join(rt.contentRoot, 'blobs', 'sha256'), { recursive: true });
      await mkdir(join(rt.dir.path, 'snapshots'), { recursive: true });
      const journal = await createJournal(join(rt.dir.path, 'meta.db'));
      // A layer thread per concurrent download (at most MAX_LAYER_THREADS), so that they hash on every core, and one
      // more, so that an apply need not share a thread with a download, as containerd's unpack runs in a goroutine
      // of its own beside its fetches: sharing one, the first layer's apply took 220-330 ms of a 250 MB pull (8
      // layers) where its own took 55-145 ms (timelines, 2026-12-02). Shared with the other runtimes of this thread.
      rt.layers = acquireLayerThreads(Math.min(MAX_LAYER_THREADS, Math.max(1, opts.maxConcurrentDownloads ?? 3)) + 1);
      await rt.layers.started();
      rt.journal = new MetadataJournal(journal, rt.layers, (n) => (rt.counters.metadataCommits += n));
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
    const rec = this.images.find(image);
    return rec ? this.images.info(rec) : undefined;
  }

  async removeImage(image: string): Promise<void> {
    const rec = this.images.find(image);
    if (!rec) return;
    const live = this.images.remove(rec);
    for (const digest of this.content.keys()) if (!live.has(digest) && !this.leases.has(digest)) await this.forget(digest);
  }

  // Drops a blob from the content store, with its unpacked snapshot.
  private async forget(digest: string): Promise<void> {
    this.content.delete(digest);
    this.unpacked.delete(digest);
    if (this.dir) await Promise.all([rm(this.blobPath(digest), { force: true }), rm(this.snapshotPath(digest), { force: true })]);
  }

  async listImages(): Promise<ImageInfo[]> {
    return this.images.list();
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
    await this.journal?.close();
    if (this.layers) await releaseLayerThreads(this.layers);
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
    const progress = new PullProgress(
      this.profile.progressTracking,
      this.opts.imagePullProgressTimeoutMs ?? DEFAULT_IMAGE_PULL_PROGRESS_TIMEOUT_MS,
      this.opts.clock ?? systemClock,
    );
    const work = (async () => {
      try {
        return await this.pullWith(ref, pools, lease, progress, auth);
      } finally {
        progress.stop();
        for (const digest of leased) {
          const n = this.leases.get(digest)! - 1;
          if (n > 0) this.leases.set(digest, n);
          else this.leases.delete(digest);
        }
        // Nothing stays open after a pull (containerd's idle connections would linger 30 s, then close).
        await Promise.all(pools.map((p) => p.close()));
      }
    })();
    // A cancelled pull fails at once, as containerd's context does; its connections are closed, so what it was
    // reading fails, and it sends nothing more (PullProgress.wrap). What is left of it (an apply, a wait for another
    // pull's blob) ends on its own and gives its leases back then.
    const canceled = new Promise<never>((_, reject) =>
      progress.whenCanceled(() => {
        reject(pullCanceled());
        void Promise.all(pools.map((p) => p.close()));
      }),
    );
    canceled.catch(() => undefined);
    progress.start();
    try {
      return await Promise.race([work, canceled]);
    } catch (err) {
      throw progress.canceled ? pullCanceled() : err;
    } finally {
      work.catch(() => undefined);
    }
  }

  private async pullWith(
    ref: ImageReference,
    pools: { close(): Promise<void> }[],
    lease: (digest: string) => void,
    progress: PullProgress,
    auth?: PullAuth,
  ): Promise<string> {
    const phase = (): Via =>
      pullPhase({
        ref,
        hosts: this.hosts.for(ref.domain),
        ...(auth ? { auth } : {}),
        ...(this.injected ? { injected: this.injected } : {}),
        ...(this.routes ? { routes: this.routes } : {}),
        ...(this.opts.proxy ? { proxy: this.opts.proxy } : {}),
        ...(this.layers ? { layers: this.layers } : {}),
        pools,
        counted: (t) => progress.wrap(this.counted(t)),
        retryServerErrorsOnLastHost: this.profile.retriesServerErrorsOnLastHost,
      });
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
        (await this.fetchOnce(desc.digest, progress, () =>
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
    const { config, layers } = manifestParts(manifestBytes, manifestDesc.digest);
    // containerd 1.6's unpacker holds a manifest's layers back until its config is fetched (the config names their
    // diff ids), then fetches them max_concurrent_downloads at a time and applies each, in order, once it is fetched
    // and the one below it applied (unpacker.go: unpack, fetch). The inflate-only store keeps no layer to apply: it
    // decompresses each as it downloads.
    for (const d of [config, ...layers]) lease(d.digest);
    await this.fetchBlob(ref, config, via, limiter, false, progress);
    const diffIds = this.dir ? diffIdsOf(this.content.get(config.digest)!.bytes!, layers.length) : [];
    const fetches = layers.map((l) => this.fetchBlob(ref, l, via, limiter, true, progress));
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
        // The unpacker's share of the layer's transactions; its download made the others (storeLayer).
        if (fresh) await this.journal?.commit(`layer ${l.digest}`, META_TX_PER_LAYER_UNPACK);
      }
    } finally {
      // Nothing of a failed pull is left running: its other fetches end (and store what verified) first.
      await Promise.allSettled(fetches);
    }
    // The image record, leases and CRI's own bookkeeping: one transaction more when anything was new.
    await this.journal?.commit(`image ${ref.toString()}`, META_TX_PER_PULL + (fresh ? 1 : 0));
    content.push(config.digest, ...layers.map((l) => l.digest));
    size += config.size + layers.reduce((n, l) => n + l.size, 0);
    // containerd's image target is what the reference resolved to (the index, for a multi-platform image).
    this.images.add(ref, { manifestDigest: root.digest, configDigest: config.digest, content, size });
    return config.digest;
  }

  private fetchBlob(
    ref: ImageReference,
    desc: Descriptor,
    via: Via,
    limiter: TaskQueue,
    isLayer: boolean,
    progress: PullProgress,
  ): Promise<boolean> {
    return this.fetchOnce(desc.digest, progress, () =>
      limiter.run(() =>
        (async () => {
          if (isLayer && this.dir) {
            await this.storeLayer(ref, desc, via);
            return;
          }
          // Like containerd's fetcher, hosts are tried until one answers; a body that fails later fails the pull.
          const blob = await via('pull', (c) => c.getBlob(ref.path, desc.digest, { resume: true }));
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
    via: Via,
  ): Promise<void> {
    const path = this.blobPath(desc.digest);
    const partial = `${path}.partial-${process.pid}-${Math.random().toString(36).slice(2)}`;
    // containerd's fetch handler opens the ingest (a lease on it: one transaction) before its GET, and commits the
    // content (two) once the blob is in place, beside the other downloads: not in the unpacker's chain.
    await this.journal?.commit(`ingest ${desc.digest}`, META_TX_PER_LAYER_INGEST);
    try {
      // Like containerd's fetcher, hosts are tried until one answers; a body that fails later fails the pull.
      const blob = await via('pull', (c) => c.getBlob(ref.path, desc.digest, { saveTo: { partial, path }, resume: true }));
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
      await this.journal?.commit(`content ${desc.digest}`, META_TX_PER_LAYER_COMMIT);
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

  // A blob already stored is not fetched; a blob being fetched is awaited, not fetched twice. True for the call that
  // fetched it. A fetch whose pull was cancelled fails as cancelled, and a pull that waited for it fetches the blob
  // itself, as a containerd pull waiting for another's ingest lock takes the ingest over once it is aborted.
  private async fetchOnce(digest: string, progress: PullProgress, fetcher: () => Promise<void>): Promise<boolean> {
    for (;;) {
      if (this.content.has(digest)) return false;
      const p = this.inflight.get(digest);
      if (!p) break;
      try {
        await p;
        return false;
      } catch (err) {
        if (!isPullCanceled(err) || progress.canceled) throw err;
      }
    }
    const p = fetcher()
      .catch((err: unknown) => {
        throw progress.canceled ? pullCanceled() : err;
      })
      .finally(() => this.inflight.delete(digest));
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

  // containerd's content store layout (content/local/store.go: blobPath): blobs/<algorithm>/<encoded>.
  private blobPath(digest: string): string {
    const [algorithm, encoded] = digest.split(':') as [string, string];
    return join(this.contentRoot, 'blobs', algorithm, encoded);
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
