import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { pipeline } from 'node:stream';
import { PullbenchError, isPullbenchError } from '../errors.js';
import type { RegistryClient } from './client.js';
import { Digester, digestOf, parseDigest } from './digest.js';
import { MediaType, isIndexMediaType, type Descriptor, type ImageIndex, type ImageManifest } from './media-types.js';
import { synthesizeImage, type BlobSink, type SynthImage, type SynthSpec } from './synth.js';
import { VerifyingStream } from './verifying-stream.js';

/** The annotation an OCI layout's index.json uses to name an image (its tag). */
export const REF_NAME = 'org.opencontainers.image.ref.name';
const LAYOUT_VERSION = '1.0.0';
const MANIFEST_LIMIT = 4 * 1024 * 1024;

function blobPath(dir: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return join(dir, 'blobs', algorithm, hex);
}

function layoutError(dir: string, why: string, cause?: unknown): PullbenchError {
  return new PullbenchError('INVALID_IMAGE_LAYOUT', `${dir}: ${why}`, { cause, details: { dir } });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function writeAtomic(path: string, bytes: Buffer | string): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
}

/** An OCI image layout being written: blobs land atomically; `finish` writes index.json. */
export interface LayoutSink extends BlobSink {
  finish(): Promise<void>;
}

/** Opens (creating if needed) an OCI image layout directory for writing. */
export async function layoutSink(dir: string): Promise<LayoutSink> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeAtomic(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
  const tagged: Descriptor[] = [];

  const putBytes = async (bytes: Buffer, mediaType: string): Promise<Descriptor> => {
    const digest = digestOf(bytes);
    const path = blobPath(dir, digest);
    if (!(await exists(path))) await writeAtomic(path, bytes);
    return { mediaType, digest, size: bytes.length };
  };

  return {
    putBytes,
    putStream: async (body: Readable, mediaType: string) => {
      const tmp = join(dir, 'blobs', 'sha256', `.tmp-${randomBytes(6).toString('hex')}`);
      const digester = new Digester();
      try {
        await pipelineAsync(
          body,
          async function* (source: AsyncIterable<Buffer>) {
            for await (const chunk of source) {
              digester.update(chunk);
              yield chunk;
            }
          },
          createWriteStream(tmp),
        );
        const digest = digester.digest();
        await rename(tmp, blobPath(dir, digest));
        return { mediaType, digest, size: digester.size };
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    },
    ensureBlob: async (desc: Descriptor) => {
      const info = await stat(blobPath(dir, desc.digest)).catch(() => undefined);
      if (!info || info.size !== desc.size) {
        throw new PullbenchError('BLOB_UNKNOWN', `${dir} does not hold base layer ${desc.digest}; write the base image into the same layout first`);
      }
    },
    putManifest: async (bytes: Buffer, mediaType: string, tag?: string) => {
      const desc = await putBytes(bytes, mediaType);
      if (tag !== undefined) tagged.push({ ...desc, annotations: { [REF_NAME]: tag } });
      return desc;
    },
    finish: async () => {
      const indexPath = join(dir, 'index.json');
      const current: ImageIndex = (await exists(indexPath)) ? await readIndex(dir) : { schemaVersion: 2, manifests: [] };
      const names = new Set(tagged.map((d) => d.annotations?.[REF_NAME]));
      const manifests = [...current.manifests.filter((d) => !names.has(d.annotations?.[REF_NAME])), ...tagged];
      await writeAtomic(indexPath, JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
    },
  };
}

/**
 * Synthesises an image into an OCI image layout directory, named `tag` in its
 * index.json (other images already there stay, so v1 and v2 can share one layout).
 */
export async function writeLayout(dir: string, spec: SynthSpec, tag: string): Promise<SynthImage> {
  const sink = await layoutSink(dir);
  const image = await synthesizeImage(spec, sink, tag);
  await sink.finish();
  return image;
}

async function readIndex(dir: string): Promise<ImageIndex> {
  let text: string;
  try {
    text = await readFile(join(dir, 'index.json'), 'utf8');
  } catch (err) {
    throw layoutError(dir, 'no index.json (not an OCI image layout)', err);
  }
  let index: ImageIndex;
  try {
    index = JSON.parse(text) as ImageIndex;
  } catch (err) {
    throw layoutError(dir, 'index.json is not valid JSON', err);
  }
  if (index?.schemaVersion !== 2 || !Array.isArray(index.manifests)) throw layoutError(dir, 'index.json is not an OCI image index');
  return index;
}

async function readLayoutJson<T>(dir: string, desc: Descriptor): Promise<{ bytes: Buffer; value: T }> {
  if (desc.size > MANIFEST_LIMIT) throw layoutError(dir, `manifest ${desc.digest} is larger than ${MANIFEST_LIMIT} bytes`);
  let bytes: Buffer;
  try {
    bytes = await readFile(blobPath(dir, desc.digest));
  } catch (err) {
    if (isPullbenchError(err)) throw layoutError(dir, `bad digest in a descriptor: ${err.message}`, err);
    throw layoutError(dir, `missing blob ${desc.digest}`, err);
  }
  if (bytes.length !== desc.size) {
    throw new PullbenchError('SIZE_MISMATCH', `${dir}: blob ${desc.digest} is ${bytes.length} bytes, its descriptor says ${desc.size}`, { details: { dir, digest: desc.digest } });
  }
  if (digestOf(bytes, parseDigest(desc.digest).algorithm) !== desc.digest) {
    throw new PullbenchError('DIGEST_MISMATCH', `${dir}: blob ${desc.digest} does not match its digest`, { details: { dir, digest: desc.digest } });
  }
  try {
    return { bytes, value: JSON.parse(bytes.toString('utf8')) as T };
  } catch (err) {
    throw layoutError(dir, `manifest ${desc.digest} is not valid JSON`, err);
  }
}

/**
 * Pushes an image from an OCI image layout to `repo:tag`: the index.json entry named
 * `name` (default `tag`; or the only entry), with every child manifest and blob, each
 * verified. Returns the descriptors pushed, top-level last.
 */
export async function importLayout(dir: string, client: RegistryClient, repo: string, tag?: string, name: string | undefined = tag): Promise<Descriptor[]> {
  let layout: { imageLayoutVersion?: unknown };
  try {
    layout = JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8')) as typeof layout;
  } catch (err) {
    throw layoutError(dir, 'no readable oci-layout file (not an OCI image layout)', err);
  }
  if (layout.imageLayoutVersion !== LAYOUT_VERSION) throw layoutError(dir, `unsupported imageLayoutVersion ${JSON.stringify(layout.imageLayoutVersion)}`);
  const index = await readIndex(dir);
  const named = name === undefined ? [] : index.manifests.filter((d) => d.annotations?.[REF_NAME] === name);
  const entry = named.length === 1 ? named[0] : index.manifests.length === 1 ? index.manifests[0] : undefined;
  if (!entry) {
    const names = index.manifests.map((d) => d.annotations?.[REF_NAME] ?? d.digest);
    throw layoutError(dir, name === undefined ? `holds ${names.length} images (${names.join(', ')}); name one` : `has no image named ${name} (has: ${names.join(', ') || 'none'})`);
  }
  const pushed: Descriptor[] = [];

  const pushTree = async (desc: Descriptor, reference: string): Promise<void> => {
    if (isIndexMediaType(desc.mediaType)) {
      const { bytes, value } = await readLayoutJson<ImageIndex>(dir, desc);
      for (const child of value.manifests ?? []) await pushTree(child, child.digest);
      pushed.push(await client.putManifest(repo, reference, bytes, desc.mediaType));
      return;
    }
    const { bytes, value } = await readLayoutJson<ImageManifest>(dir, desc);
    if (!value.config || !Array.isArray(value.layers)) throw layoutError(dir, `${desc.digest} is neither an image manifest nor an index`);
    for (const blob of [value.config, ...value.layers]) {
      const path = blobPath(dir, blob.digest);
      const info = await stat(path).catch(() => undefined);
      if (!info) throw layoutError(dir, `missing blob ${blob.digest}`);
      // pipeline, so that a skipped upload (the registry has the blob) also closes the file.
      const body = pipeline(createReadStream(path), new VerifyingStream(blob.digest, blob.size), () => undefined);
      pushed.push({ ...(await client.pushBlob(repo, body, { digest: blob.digest, size: blob.size })), mediaType: blob.mediaType });
    }
    pushed.push(await client.putManifest(repo, reference, bytes, desc.mediaType ?? MediaType.OciManifest));
  };

  await pushTree(entry, tag ?? entry.annotations?.[REF_NAME] ?? entry.digest);
  return pushed;
}

/** Pulls `repo:reference` (every platform) from a registry into an OCI image layout, named `tag`. */
export async function exportLayout(client: RegistryClient, repo: string, reference: string, dir: string, tag = reference): Promise<Descriptor> {
  const sink = await layoutSink(dir);
  const copyTree = async (ref: string, top: boolean): Promise<Descriptor> => {
    const m = await client.getManifest(repo, ref);
    if (isIndexMediaType(m.mediaType)) {
      const index = JSON.parse(m.bytes.toString('utf8')) as ImageIndex;
      for (const child of index.manifests ?? []) await copyTree(child.digest, false);
    } else {
      const manifest = JSON.parse(m.bytes.toString('utf8')) as ImageManifest;
      for (const blob of [manifest.config, ...(manifest.layers ?? [])]) {
        if (await exists(blobPath(dir, blob.digest))) continue;
        const stored = await sink.putStream((await client.getBlob(repo, blob.digest)).body, blob.mediaType);
        if (stored.digest !== blob.digest) throw new PullbenchError('DIGEST_MISMATCH', `blob ${blob.digest} arrived as ${stored.digest}`);
      }
    }
    return sink.putManifest(m.bytes, m.mediaType, top ? tag : undefined);
  };
  const desc = await copyTree(reference, true);
  await sink.finish();
  return desc;
}
