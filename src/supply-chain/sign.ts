import { createHash, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { bundleToJSON, toDSSEBundle } from '@sigstore/bundle';
import { dsse } from '@sigstore/core';
import type { RegistryClient } from '../oci/client.js';
import { digestOf } from '../oci/digest.js';
import { MediaType, type Descriptor, type ImageManifest } from '../oci/media-types.js';
import { isPullbenchError } from '../errors.js';
import { hashesForKey, publicKeyPem } from './keys.js';
import { resolveImage, signatureTag } from './registry.js';
import { IN_TOTO_PAYLOAD_TYPE } from './statement.js';
import { Annotation, COSIGN_SIGN_PREDICATE, SIMPLE_SIGNING_TYPE } from './verify.js';

export type SignFormat = 'legacy' | 'bundle';

export interface SignOptions {
  key: KeyObject;
  /** `-a key=value`: written to the payload's `optional` section (legacy) as cosign does. */
  annotations?: Record<string, string>;
  format?: SignFormat;
}

export interface SignResult {
  image: string;
  digest: string;
  format: SignFormat;
  /** The `.sig` tag or the referrer manifest digest written. */
  location: string;
  manifestDigest: string;
}

/**
 * cosign's simple-signing payload, fields in cosign's order
 * (`{"critical":{"identity","image","type"},"optional"}`, `optional` null when empty).
 */
export function simpleSigningPayload(dockerReference: string, digest: string, annotations?: Record<string, string>): Buffer {
  const optional = annotations && Object.keys(annotations).length > 0 ? annotations : null;
  return Buffer.from(
    JSON.stringify({
      critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': digest }, type: SIMPLE_SIGNING_TYPE },
      optional,
    }),
  );
}

function signBytes(key: KeyObject, data: Buffer): Buffer {
  return cryptoSign(hashesForKey(key)[0] ?? null, data, key);
}

/**
 * The config blob of a signature image: what go-containerregistry writes for
 * `empty.Image` plus appended layers (zero times, one history entry and one
 * diff_id per layer), so the `.sig` manifest has cosign's shape.
 */
export function signatureConfig(layers: Descriptor[]): Buffer {
  const zero = '0001-01-01T00:00:00Z';
  return Buffer.from(
    JSON.stringify({
      architecture: '',
      created: zero,
      history: layers.map(() => ({ created: zero })),
      os: '',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      config: {},
    }),
  );
}

async function pushBytes(client: RegistryClient, repo: string, bytes: Buffer): Promise<Descriptor> {
  const digest = digestOf(bytes);
  return client.pushBlob(repo, bytes, { digest, size: bytes.length });
}

/** Signs an image in a registry: a `.sig` layer appended as cosign does, or a bundle referrer. */
export async function signImage(client: RegistryClient, image: string, opts: SignOptions): Promise<SignResult> {
  const { ref, digest, descriptor } = await resolveImage(client, image);
  const repo = ref.path;
  const format = opts.format ?? 'legacy';
  if (format === 'bundle') {
    const location = await pushReferrerBundle(client, repo, descriptor, signatureBundle(ref.name, digest, opts.key), COSIGN_SIGN_PREDICATE);
    return { image: `${ref.name}@${digest}`, digest, format, location, manifestDigest: location };
  }
  const payload = simpleSigningPayload(ref.name, digest, opts.annotations);
  const signature = signBytes(opts.key, payload).toString('base64');
  const tag = signatureTag(digest);
  const pushed = await appendLayer(client, repo, tag, payload, MediaType.CosignSimpleSigning, { [Annotation.signature]: signature });
  return { image: `${ref.name}@${digest}`, digest, format, location: tag, manifestDigest: pushed };
}

/**
 * Appends a layer to the signature image at `tag` (`.sig` or `.att`), as
 * cosign's mutate.Attach* then remote.Write do: the existing layers kept, an
 * identical one (same blob and annotations) replaced rather than repeated.
 * Returns the new manifest's digest.
 */
export async function appendLayer(client: RegistryClient, repo: string, tag: string, blob: Buffer, mediaType: string, annotations: Record<string, string>): Promise<string> {
  const blobDesc = await pushBytes(client, repo, blob);
  const layer: Descriptor = { mediaType, size: blobDesc.size, digest: blobDesc.digest, annotations };
  let existing: ImageManifest | undefined;
  try {
    existing = JSON.parse((await client.getManifest(repo, tag)).bytes.toString('utf8')) as ImageManifest;
  } catch (err) {
    if (!isPullbenchError(err, 'MANIFEST_UNKNOWN')) throw err;
  }
  const same = (l: Descriptor): boolean => l.digest === layer.digest && JSON.stringify(l.annotations ?? {}) === JSON.stringify(annotations);
  const layers = [...(existing?.layers ?? []).filter((l) => !same(l)), layer];
  const config = await pushBytes(client, repo, signatureConfig(layers));
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, size: config.size, digest: config.digest },
    layers,
  };
  return (await client.putManifest(repo, tag, Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest)).digest;
}

/**
 * A keyed Sigstore bundle v0.3 over a DSSE envelope of an in-toto statement,
 * as cosign 3 stores image signatures and attestations: the verification
 * material is a public-key hint and there is no tlog entry.
 */
export function dsseBundleJson(statement: Buffer, key: KeyObject): unknown {
  const hint = createHash('sha256').update(publicKeyPem(key)).digest('base64');
  const signature = signBytes(key, dsse.preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, statement));
  const bundle = toDSSEBundle({ artifact: statement, artifactType: IN_TOTO_PAYLOAD_TYPE, signature, keyHint: hint });
  // cosign's keyed DSSE signatures carry an empty keyid.
  bundle.content.dsseEnvelope.signatures[0]!.keyid = '';
  return bundleToJSON(bundle);
}

/** An image signature bundle: subject the image digest, predicate type `https://sigstore.dev/cosign/sign/v1`. */
function signatureBundle(name: string, digest: string, key: KeyObject): unknown {
  const [alg, hex] = digest.split(':');
  const statement = Buffer.from(
    JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name, digest: { [alg!]: hex } }], predicateType: COSIGN_SIGN_PREDICATE, predicate: {} }),
  );
  return dsseBundleJson(statement, key);
}

const EMPTY_CONFIG = Buffer.from('{}');

/**
 * Stores a bundle as cosign 3 does (cosign pkg/oci/remote write.go,
 * WriteAttestationNewBundleFormat / WriteReferrer): an OCI 1.1 referrer of the
 * image with the bundle as its one layer. Returns the referrer's digest.
 */
export async function pushReferrerBundle(client: RegistryClient, repo: string, subject: Descriptor, bundle: unknown, predicateType: string): Promise<string> {
  const bundleBytes = Buffer.from(JSON.stringify(bundle));
  const layer = await pushBytes(client, repo, bundleBytes);
  const config = await pushBytes(client, repo, EMPTY_CONFIG);
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: MediaType.SigstoreBundleV03,
    config: { mediaType: MediaType.OciEmpty, size: config.size, digest: config.digest },
    layers: [{ mediaType: MediaType.SigstoreBundleV03, size: layer.size, digest: layer.digest }],
    subject: { mediaType: subject.mediaType, size: subject.size, digest: subject.digest },
    annotations: {
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': predicateType,
      'org.opencontainers.image.created': new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = digestOf(bytes);
  await client.putManifest(repo, digest, bytes, MediaType.OciManifest);
  return digest;
}
