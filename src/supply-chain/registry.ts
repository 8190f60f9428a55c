import type { Readable } from 'node:stream';
import { RegistryClient } from '../oci/client.js';
import type { BasicCredentials } from '../oci/credentials.js';
import { MediaType, type Descriptor, type ImageManifest } from '../oci/media-types.js';
import { parseReference, type ImageReference } from '../oci/reference.js';
import { isPullbenchError, PullbenchError } from '../errors.js';
import type { Candidate } from './verify.js';

/** Where cosign looks: the `sha256-<hex>.sig` tag (cosign `pkg/oci/remote` SignatureTag). */
export function signatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

export interface RegistryAccess {
  credentials?: BasicCredentials;
  /** Use http:// (always for 127.0.0.1, ::1 and localhost). */
  plainHttp?: boolean;
  fetch?: typeof fetch;
}

function isLoopback(domain: string): boolean {
  const host = domain.replace(/:\d+$/, '');
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
}

/** A RegistryClient for the registry of a reference (docker.io -> registry-1.docker.io, as containerd). */
export function clientFor(ref: ImageReference, access: RegistryAccess = {}): RegistryClient {
  const scheme = access.plainHttp || isLoopback(ref.domain) ? 'http' : 'https';
  const host = ref.domain === 'docker.io' ? 'registry-1.docker.io' : ref.domain;
  return new RegistryClient({
    baseUrl: `${scheme}://${host}`,
    ...(access.credentials ? { credentials: access.credentials } : {}),
    ...(access.fetch ? { fetch: access.fetch } : {}),
  });
}

export async function readAll(body: Readable, limit = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new PullbenchError('INVALID_MANIFEST', `signature blob larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export interface ResolvedImage {
  ref: ImageReference;
  digest: string;
  descriptor: Descriptor;
  manifestBytes: Buffer;
}

/** Resolves the image (tag not found is MANIFEST_UNKNOWN) and fetches its manifest bytes. */
export async function resolveImage(client: RegistryClient, image: string | ImageReference): Promise<ResolvedImage> {
  const ref = typeof image === 'string' ? parseReference(image) : image;
  const manifest = await client.getManifest(ref.path, ref.reference);
  return { ref, digest: manifest.descriptor.digest, descriptor: manifest.descriptor, manifestBytes: manifest.bytes };
}

async function getJsonManifest(client: RegistryClient, repo: string, reference: string): Promise<ImageManifest | undefined> {
  try {
    const m = await client.getManifest(repo, reference);
    return JSON.parse(m.bytes.toString('utf8')) as ImageManifest;
  } catch (err) {
    if (isPullbenchError(err, 'MANIFEST_UNKNOWN')) return undefined;
    if (err instanceof SyntaxError) throw new PullbenchError('INVALID_MANIFEST', `${repo}:${reference} is not JSON`);
    throw err;
  }
}

/**
 * Every signature cosign would consider, in cosign's order: Sigstore bundles
 * attached as OCI 1.1 referrers first, then the layers of the legacy `.sig` tag.
 */
export async function findSignatures(client: RegistryClient, repo: string, digest: string): Promise<Candidate[]> {
  // Both places are queried at once (one round trip less); bundles still come first.
  const [bundles, legacy] = await Promise.all([referrerBundles(client, repo, digest), legacySignatures(client, repo, digest)]);
  return [...bundles, ...legacy];
}

/** The Sigstore bundles attached to `digest` as OCI 1.1 referrers (unparsed JSON; null when unreadable). */
export async function referrerBundles(client: RegistryClient, repo: string, digest: string): Promise<Candidate[]> {
  const referrers = await client.referrers(repo, digest, MediaType.SigstoreBundleV03);
  return Promise.all(
    referrers.manifests.map(async (d): Promise<Candidate> => {
      const manifest = await getJsonManifest(client, repo, d.digest);
      const layer = manifest?.layers?.find((l) => l.mediaType === MediaType.SigstoreBundleV03);
      let bundle: unknown = null;
      if (layer) {
        try {
          bundle = JSON.parse((await readAll((await client.getBlob(repo, layer.digest)).body)).toString('utf8'));
        } catch (err) {
          if (!(err instanceof SyntaxError)) throw err;
        }
      }
      const predicateType = manifest?.annotations?.['dev.sigstore.bundle.predicateType'];
      return { kind: 'bundle', source: `referrer ${d.digest}`, bundle, ...(predicateType ? { predicateType } : {}) };
    }),
  );
}

function legacySignatures(client: RegistryClient, repo: string, digest: string): Promise<Candidate[]> {
  return tagLayers(client, repo, signatureTag(digest));
}

/** The layers of a cosign signature image (`.sig` or `.att` tag) as legacy candidates; none when the tag does not exist. */
export async function tagLayers(client: RegistryClient, repo: string, tag: string): Promise<Candidate[]> {
  const sig = await getJsonManifest(client, repo, tag);
  return Promise.all(
    (sig?.layers ?? []).map(async (layer, i): Promise<Candidate> => {
      const payload = await readAll((await client.getBlob(repo, layer.digest)).body);
      return { kind: 'legacy', source: `${tag} layer ${i}`, layer: { mediaType: layer.mediaType, payload, annotations: layer.annotations ?? {} } };
    }),
  );
}
