import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { RegistryClient } from '../../../src/oci/client.js';
import type { BasicCredentials } from '../../../src/oci/credentials.js';

/** One synthetic image layer: a real tar (one regular file) gzipped, with its digests. */
export interface SynthLayer {
  /** The compressed blob (gzip or zstd). */
  gz: Buffer;
  mediaType: string;
  digest: string;
  diffId: string;
}

export interface SynthImage {
  layers: SynthLayer[];
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestDigest: string;
  /** Sum of compressed layer sizes + config size + manifest size. */
  contentSize: number;
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

/** A tar with one file of `size` random bytes (random so gzip cannot shrink it: compressed ~= raw). */
export function tarWithFile(name: string, size: number): Buffer {
  const pad = (512 - (size % 512)) % 512;
  return Buffer.concat([tarHeader(name, size), randomBytes(size), Buffer.alloc(pad), Buffer.alloc(1024)]);
}

/** A linux/amd64 OCI image whose layers are real tar.gz files that containerd can unpack. */
export function synthImage(layerSizes: number[], opts: { compression?: 'gzip' | 'zstd'; shared?: SynthLayer[]; architecture?: string } = {}): SynthImage {
  const zstd = opts.compression === 'zstd';
  const fresh = layerSizes.map((size, i) => {
    const tar = tarWithFile(`layer${i}.bin`, size);
    const gz = zstd ? zstdRawFrame(tar) : gzipSync(tar, { level: 1 });
    const mediaType = `application/vnd.oci.image.layer.v1.tar+${zstd ? 'zstd' : 'gzip'}`;
    return { gz, mediaType, digest: sha(gz), diffId: sha(tar) };
  });
  const layers = [...(opts.shared ?? []), ...fresh];
  const config = Buffer.from(
    JSON.stringify({
      architecture: opts.architecture ?? 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.gz.length })),
    }),
  );
  const contentSize = layers.reduce((n, l) => n + l.gz.length, 0) + config.length + manifest.length;
  return { layers, config, configDigest: sha(config), manifest, manifestDigest: sha(manifest), contentSize };
}

/** Pushes an image with the distribution HTTP API (monolithic uploads), anonymous. */
export async function pushImage(baseUrl: string, repo: string, tag: string, img: SynthImage): Promise<void> {
  const blobs = [...img.layers.map((l) => ({ data: l.gz, digest: l.digest })), { data: img.config, digest: img.configDigest }];
  for (const blob of blobs) {
    const start = await fetch(`${baseUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    if (start.status !== 202) throw new Error(`upload start: HTTP ${start.status}`);
    const loc = new URL(start.headers.get('location')!, baseUrl);
    loc.searchParams.set('digest', blob.digest);
    const put = await fetch(loc, {
      method: 'PUT',
      body: blob.data,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.data.length) },
    });
    if (put.status !== 201) throw new Error(`upload ${blob.digest}: HTTP ${put.status} ${await put.text()}`);
  }
  const res = await fetch(`${baseUrl}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: img.manifest,
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  if (res.status !== 201) throw new Error(`manifest put: HTTP ${res.status} ${await res.text()}`);
}

/**
 * A valid zstd frame made of raw (stored) blocks (RFC 8878 3.1): enough to
 * exercise a real zstd decoder without a zstd encoder on Node 20.
 */
export function zstdRawFrame(data: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUInt32LE(0xfd2fb528, 0);
  header[4] = 0xa0; // Single_Segment, 4-byte Frame_Content_Size, no checksum
  header.writeUInt32LE(data.length, 5);
  const parts: Buffer[] = [header];
  const MAX = 128 * 1024;
  for (let off = 0; off < data.length || off === 0; off += MAX) {
    const chunk = data.subarray(off, off + MAX);
    const last = off + MAX >= data.length ? 1 : 0;
    const bh = (chunk.length << 3) | last; // Block_Type 0 = raw
    parts.push(Buffer.from([bh & 0xff, (bh >> 8) & 0xff, (bh >> 16) & 0xff]), chunk);
    if (data.length === 0) break;
  }
  return Buffer.concat(parts);
}

/** Pushes through RegistryClient (any auth the registry asks for). */
export async function pushWithClient(baseUrl: string, repo: string, tag: string, img: SynthImage, credentials?: BasicCredentials): Promise<void> {
  const client = new RegistryClient({ baseUrl, ...(credentials ? { credentials } : {}) });
  for (const l of img.layers) await client.pushBlob(repo, l.gz, { digest: l.digest });
  await client.pushBlob(repo, img.config, { digest: img.configDigest });
  await client.putManifest(repo, tag, img.manifest, 'application/vnd.oci.image.manifest.v1+json');
}

/** Pushes images by digest and an OCI index over them under `tag`; returns the index bytes. */
export async function pushIndex(baseUrl: string, repo: string, tag: string, images: { img: SynthImage; architecture: string }[]): Promise<Buffer> {
  const client = new RegistryClient({ baseUrl });
  for (const { img } of images) {
    for (const l of img.layers) await client.pushBlob(repo, l.gz, { digest: l.digest });
    await client.pushBlob(repo, img.config, { digest: img.configDigest });
    await client.putManifest(repo, img.manifestDigest, img.manifest, 'application/vnd.oci.image.manifest.v1+json');
  }
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: images.map(({ img, architecture }) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: img.manifestDigest,
        size: img.manifest.length,
        platform: { os: 'linux', architecture },
      })),
    }),
  );
  await client.putManifest(repo, tag, index, 'application/vnd.oci.image.index.v1+json');
  return index;
}
