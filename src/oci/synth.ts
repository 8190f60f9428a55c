import { createCipheriv, createHash } from 'node:crypto';
import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { PullbenchError } from '../errors.js';
import type { RegistryClient } from './client.js';
import { Digester, digestOf } from './digest.js';
import { MediaType, isIndexMediaType, type Descriptor, type ImageIndex, type ImageManifest } from './media-types.js';
import { PAUSE_PATH, pauseBinary } from './pause-binary.js';
import { formatPlatform, normalizePlatform, platformRank, type PlatformSpec } from './platform.js';

/**
 * What to synthesise. Same spec and seed -> same digests (for one zlib version).
 * Every linux/amd64 and linux/arm64 image is also runnable: on top of the `layers`
 * sits one small entrypoint layer (`/pause`, a ~200-byte static executable that
 * waits for SIGTERM and exits 0), the same for every image of that platform.
 */
export interface SynthSpec {
  /** Size in bytes of the random file in each new layer (the blob is a little larger: tar + gzip framing). Not counting the entrypoint layer. */
  layers: number[];
  /** One manifest per platform, each with its own layers; more than one -> an OCI image index. Default linux/amd64. */
  platforms?: PlatformSpec[] | undefined;
  /** Seed of the content; default `pullbench`. */
  seed?: string | number;
  /** Layer compression; `gzip` (default) or `none`. Node 20 has no zstd compressor. */
  compression?: 'gzip' | 'none';
  /** gzip level 0-9, default 1 (random content does not compress anyway). */
  gzipLevel?: number;
  /** An image whose layers come first in every platform's manifest (v2 = v1's layers + new ones). */
  base?: BaseImage | undefined;
  /** Labels in the image config. */
  labels?: Record<string, string>;
  /**
   * Whether to add the `/pause` entrypoint layer (default true). Every synthesised image shares that one blob, so an
   * image that must share nothing with the scenario's (the containerd nodes' sandbox image) goes without it.
   */
  entrypoint?: boolean;
}

/** A layer of a synthesised image. `shared` layers came from the base image. */
export interface SynthLayer extends Descriptor {
  diffId: string;
  shared: boolean;
  /** The small layer holding the image's `/pause` entrypoint (not one of the spec's `layers`). */
  entrypoint?: boolean;
}

export interface SynthPlatformImage {
  platform: PlatformSpec;
  /** `['/pause']` when the image can run (linux/amd64, linux/arm64); absent otherwise. */
  entrypoint?: string[];
  /** The manifest's descriptor (with `platform`). */
  manifest: Descriptor;
  config: Descriptor;
  layers: SynthLayer[];
}

export interface SynthImage {
  /** What the tag points at: the index for several platforms, else the manifest. */
  descriptor: Descriptor;
  images: SynthPlatformImage[];
}

/** Layers of a base image, per platform (a base with one manifest serves its own platform only). */
export interface BaseImage {
  /** Repository the base lives in, for cross-repository mounts; undefined when the sink already has the blobs. */
  repo?: string;
  images: { platform: PlatformSpec; layers: SynthLayer[] }[];
}

/** Progress, one event per layer stored (for a command's stderr). */
export interface SynthProgress {
  platform: PlatformSpec;
  /** 1-based position among the platform's layers. */
  layer: number;
  of: number;
  digest: string;
  size: number;
  shared: boolean;
}

/** Where a synthesised image goes: a registry repository or an OCI image layout. */
export interface BlobSink {
  /** Stores a blob whose digest is not known in advance; returns its descriptor. */
  putStream(body: Readable, mediaType: string): Promise<Descriptor>;
  /** Stores a small blob (config). */
  putBytes(bytes: Buffer, mediaType: string): Promise<Descriptor>;
  /** Makes sure a blob the image shares (from a base) is present, mounting it from `fromRepo` if it can. */
  ensureBlob(desc: Descriptor, fromRepo?: string): Promise<void>;
  /** Stores a manifest or index; `tag` for the top-level one. */
  putManifest(bytes: Buffer, mediaType: string, tag?: string): Promise<Descriptor>;
}

const TAR_BLOCK = 512;
const KEYSTREAM_CHUNK = 1024 * 1024;
const ZEROS = Buffer.alloc(KEYSTREAM_CHUNK);
/** Fixed, so that configs (and so digests) do not depend on when they were made. */
const CREATED = '2024-01-01T00:00:00Z';

/** A USTAR header for a regular file, executable or directory (mtime 0, root-owned). */
function tarHeader(name: string, size: number, type: 'file' | 'exec' | 'dir'): Buffer {
  if (Buffer.byteLength(name) > 100) throw new PullbenchError('INTERNAL', `tar entry name too long: ${name}`);
  const h = Buffer.alloc(TAR_BLOCK);
  const octal = (value: number, offset: number, length: number): void => {
    h.write(value.toString(8).padStart(length - 1, '0') + '\0', offset, length, 'ascii');
  };
  h.write(name, 0, 100, 'utf8');
  octal(type === 'file' ? 0o644 : 0o755, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(0, 136, 12);
  h.fill(' ', 148, 156);
  h.write(type === 'dir' ? '5' : '0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

/**
 * A tar with one directory and one regular file of `size` incompressible bytes: the
 * AES-256-CTR keystream of a key derived from `seedMaterial`, fast and deterministic.
 */
export function randomLayerTar(seedMaterial: string, fileName: string, size: number): Readable {
  const key = createHash('sha256').update(`pullbench layer key\0${seedMaterial}`).digest();
  const iv = createHash('sha256').update(`pullbench layer iv\0${seedMaterial}`).digest().subarray(0, 16);
  async function* generate(): AsyncGenerator<Buffer> {
    yield tarHeader('pullbench/', 0, 'dir');
    yield tarHeader(`pullbench/${fileName}`, size, 'file');
    const cipher = createCipheriv('aes-256-ctr', key, iv);
    for (let left = size; left > 0; left -= KEYSTREAM_CHUNK) {
      yield cipher.update(left >= KEYSTREAM_CHUNK ? ZEROS : ZEROS.subarray(0, left));
    }
    const pad = (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
    yield Buffer.alloc(pad + 2 * TAR_BLOCK);
  }
  return Readable.from(generate(), { objectMode: false });
}

/** The entrypoint layer of a platform, uncompressed and gzipped; undefined where no executable exists. */
interface EntrypointLayer {
  tar: Buffer;
  gzip: Buffer;
  diffId: string;
}
const entrypointLayers = new Map<string, EntrypointLayer | undefined>();

function entrypointLayer(platform: PlatformSpec): EntrypointLayer | undefined {
  if (platform.os !== 'linux') return undefined;
  const key = platform.architecture;
  if (!entrypointLayers.has(key)) {
    const bin = pauseBinary(key);
    let layer: EntrypointLayer | undefined;
    if (bin) {
      const name = PAUSE_PATH.slice(1);
      const pad = (TAR_BLOCK - (bin.length % TAR_BLOCK)) % TAR_BLOCK;
      const tar = Buffer.concat([tarHeader(name, bin.length, 'exec'), bin, Buffer.alloc(pad + 2 * TAR_BLOCK)]);
      // A fixed level, not the spec's: the layer is then the same blob in every image of the platform.
      layer = { tar, gzip: gzipSync(tar, { level: 9 }), diffId: digestOf(tar) };
    }
    entrypointLayers.set(key, layer);
  }
  return entrypointLayers.get(key);
}

/** Passes bytes through, hashing them (the diff_id of an uncompressed layer). */
class HashingPassThrough extends Transform {
  readonly digester = new Digester();
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.digester.update(chunk);
    callback(null, chunk);
  }
}

function platformKey(p: PlatformSpec): string {
  return formatPlatform(normalizePlatform(p));
}

/** Checks a spec and collects every problem into one INVALID_ARGUMENT. */
function validateSpec(spec: SynthSpec): void {
  const problems: string[] = [];
  if (!Array.isArray(spec.layers) || (spec.layers.length === 0 && !spec.base)) problems.push('at least one layer (or a base) is needed');
  spec.layers?.forEach((size, i) => {
    if (!Number.isSafeInteger(size) || size < 0) problems.push(`layer ${i + 1}: size must be a whole number of bytes >= 0, got ${size}`);
  });
  if (spec.gzipLevel !== undefined && !(Number.isInteger(spec.gzipLevel) && spec.gzipLevel >= 0 && spec.gzipLevel <= 9)) problems.push('gzipLevel must be 0-9');
  if (spec.compression !== undefined && spec.compression !== 'gzip' && spec.compression !== 'none') problems.push(`compression must be gzip or none, got ${String(spec.compression)}`);
  const keys = (spec.platforms ?? []).map(platformKey);
  if (new Set(keys).size !== keys.length) problems.push(`platforms repeat: ${keys.join(', ')}`);
  if (problems.length) throw new PullbenchError('INVALID_ARGUMENT', `invalid image spec: ${problems.join('; ')}`, { details: { problems } });
}

function baseLayersFor(base: BaseImage | undefined, platform: PlatformSpec): SynthLayer[] {
  if (!base) return [];
  let best: { rank: number; layers: SynthLayer[] } | undefined;
  for (const img of base.images) {
    const rank = platformRank(platform, img.platform);
    if (rank >= 0 && (!best || rank < best.rank)) best = { rank, layers: img.layers };
  }
  if (!best) {
    throw new PullbenchError('PLATFORM_NOT_FOUND', `the base image has no layers for ${formatPlatform(platform)} (it has: ${base.images.map((i) => formatPlatform(i.platform)).join(', ')})`);
  }
  return best.layers.map((l) => ({ ...l, shared: true }));
}

/**
 * Synthesises a test image into a sink: per platform, the base's layers (shared, not
 * re-uploaded), new random layers, the entrypoint layer (unless the base has it),
 * a config with their diff_ids and the `/pause` Entrypoint, and a manifest;
 * an OCI index over them when there is more than one platform, stored under `tag`.
 */
export async function synthesizeImage(spec: SynthSpec, sink: BlobSink, tag?: string, onLayer?: (p: SynthProgress) => void): Promise<SynthImage> {
  validateSpec(spec);
  const platforms = spec.platforms?.length ? spec.platforms : [{ os: 'linux', architecture: 'amd64' }];
  const compression = spec.compression ?? 'gzip';
  const seed = String(spec.seed ?? 'pullbench');
  const images: SynthPlatformImage[] = [];

  for (const wanted of platforms) {
    const platform = normalizePlatform(wanted);
    const entry = entrypointLayer(platform);
    const layers = baseLayersFor(spec.base, platform).map((l) => (entry && l.diffId === entry.diffId ? { ...l, entrypoint: true } : l));
    // A base synthesised by pullbench holds the entrypoint layer already; otherwise it goes on top of the new layers.
    const addEntrypoint = entry !== undefined && spec.entrypoint !== false && !layers.some((l) => l.entrypoint);
    const of = layers.length + (addEntrypoint ? 1 : 0) + spec.layers.length;
    for (const [i, layer] of layers.entries()) {
      await sink.ensureBlob(layer, spec.base?.repo);
      onLayer?.({ platform, layer: i + 1, of, digest: layer.digest, size: layer.size, shared: true });
    }
    for (const size of spec.layers) {
      // Counted without an inherited entrypoint layer, so the random layers are the same bytes as without it.
      const position = layers.filter((l) => !l.entrypoint).length;
      // The seed names the platform and the layer's position, so v2's new layers never equal v1's.
      const tar = randomLayerTar(`${seed}\0${platformKey(platform)}\0${position}`, `layer-${position}.bin`, size);
      const hasher = new HashingPassThrough();
      const onError = (): void => {
        /* the sink sees the error on `body` */
      };
      const body = compression === 'gzip' ? pipeline(tar, hasher, createGzip({ level: spec.gzipLevel ?? 1 }), onError) : pipeline(tar, hasher, onError);
      const mediaType = compression === 'gzip' ? MediaType.OciLayerGzip : MediaType.OciLayerTar;
      const stored = await sink.putStream(body, mediaType);
      layers.push({ mediaType, digest: stored.digest, size: stored.size, diffId: hasher.digester.digest(), shared: false });
      onLayer?.({ platform, layer: layers.length, of, digest: stored.digest, size: stored.size, shared: false });
    }
    // On top, so the random layers keep their positions in the manifest.
    if (entry && addEntrypoint) {
      const mediaType = compression === 'gzip' ? MediaType.OciLayerGzip : MediaType.OciLayerTar;
      const stored = await sink.putBytes(compression === 'gzip' ? entry.gzip : entry.tar, mediaType);
      layers.push({ mediaType, digest: stored.digest, size: stored.size, diffId: entry.diffId, shared: false, entrypoint: true });
      onLayer?.({ platform, layer: layers.length, of, digest: stored.digest, size: stored.size, shared: false });
    }
    const entrypoint = layers.some((l) => l.entrypoint) ? [PAUSE_PATH] : undefined;
    const config = {
      created: CREATED,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        ...(entrypoint ? { Entrypoint: entrypoint } : {}),
        Labels: { 'dev.pullbench.seed': seed, ...spec.labels },
      },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((l) => ({ created: CREATED, created_by: `pullbench image synth (${l.entrypoint ? `${PAUSE_PATH} entrypoint` : l.shared ? 'base' : 'new'} layer)` })),
    };
    const configDesc = await sink.putBytes(Buffer.from(JSON.stringify(config)), MediaType.OciConfig);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configDesc.digest, size: configDesc.size },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const single = platforms.length === 1;
    const stored = await sink.putManifest(manifestBytes, MediaType.OciManifest, single ? tag : undefined);
    images.push({
      platform,
      ...(entrypoint ? { entrypoint } : {}),
      manifest: { mediaType: MediaType.OciManifest, digest: stored.digest, size: stored.size, platform },
      config: { mediaType: MediaType.OciConfig, digest: configDesc.digest, size: configDesc.size },
      layers,
    });
  }

  if (images.length === 1) {
    const { platform: _platform, ...descriptor } = images[0]!.manifest;
    return { descriptor, images };
  }
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: images.map((img) => img.manifest) };
  const indexBytes = Buffer.from(JSON.stringify(index));
  const stored = await sink.putManifest(indexBytes, MediaType.OciIndex, tag);
  return { descriptor: { mediaType: MediaType.OciIndex, digest: stored.digest, size: stored.size }, images };
}

/** A sink that pushes to a repository with a RegistryClient. */
function registrySink(client: RegistryClient, repo: string): BlobSink {
  return {
    putStream: async (body, mediaType) => ({ ...(await client.pushBlob(repo, body)), mediaType }),
    putBytes: async (bytes, mediaType) => ({ ...(await client.pushBlob(repo, bytes)), mediaType }),
    ensureBlob: async (desc, fromRepo) => {
      if (await client.headBlob(repo, desc.digest)) return;
      if (!fromRepo || fromRepo === repo) {
        throw new PullbenchError('BLOB_UNKNOWN', `base layer ${desc.digest} is not in ${repo} and there is no repository to mount it from`);
      }
      if (await client.mountBlob(repo, desc.digest, fromRepo)) return;
      // The registry declined the mount: copy the blob through, verified on the way.
      const blob = await client.getBlob(fromRepo, desc.digest);
      await client.pushBlob(repo, blob.body, { digest: desc.digest, size: desc.size });
    },
    putManifest: async (bytes, mediaType, tag) => client.putManifest(repo, tag ?? digestOf(bytes), bytes, mediaType),
  };
}

/** Pushes a synthesised image to `repo:tag` on a registry. */
export function pushSynthImage(client: RegistryClient, repo: string, tag: string, spec: SynthSpec, onLayer?: (p: SynthProgress) => void): Promise<SynthImage> {
  return synthesizeImage(spec, registrySink(client, repo), tag, onLayer);
}

/**
 * Reads an image from a registry as a base for `SynthSpec.base`: every platform of an
 * index (or the one manifest), with layer descriptors and diff_ids from the configs.
 */
export async function loadBase(client: RegistryClient, repo: string, reference: string): Promise<BaseImage> {
  const top = await client.getManifest(repo, reference);
  const manifests: { desc: Descriptor; bytes: Buffer }[] = [];
  if (isIndexMediaType(top.mediaType)) {
    const index = parseJson<ImageIndex>(top.bytes, `index ${repo}:${reference}`);
    for (const desc of index.manifests ?? []) {
      if (isIndexMediaType(desc.mediaType) || !desc.platform) continue;
      manifests.push({ desc, bytes: (await client.getManifest(repo, desc.digest)).bytes });
    }
  } else {
    manifests.push({ desc: top.descriptor, bytes: top.bytes });
  }
  const images: BaseImage['images'] = [];
  for (const { desc, bytes } of manifests) {
    const manifest = parseJson<ImageManifest>(bytes, `manifest ${repo}@${desc.digest}`);
    if (!manifest.config || !Array.isArray(manifest.layers)) {
      throw new PullbenchError('INVALID_MANIFEST', `base ${repo}@${desc.digest} is not an image manifest`);
    }
    const config = await client.getBlob(repo, manifest.config.digest);
    const parts: Buffer[] = [];
    for await (const chunk of config.body) parts.push(chunk as Buffer);
    const cfg = parseJson<{ os?: string; architecture?: string; variant?: string; rootfs?: { diff_ids?: string[] } }>(Buffer.concat(parts), 'base config');
    const diffIds = cfg.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) {
      throw new PullbenchError('INVALID_MANIFEST', `base ${repo}@${desc.digest}: ${manifest.layers.length} layers but ${diffIds.length} diff_ids`);
    }
    const platform = desc.platform ?? { os: cfg.os ?? 'linux', architecture: cfg.architecture ?? 'amd64', ...(cfg.variant ? { variant: cfg.variant } : {}) };
    images.push({
      platform: normalizePlatform(platform),
      layers: manifest.layers.map((l, i) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, diffId: diffIds[i]!, shared: true })),
    });
  }
  return { repo, images };
}

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (err) {
    throw new PullbenchError('INVALID_MANIFEST', `${what} is not valid JSON`, { cause: err });
  }
}
