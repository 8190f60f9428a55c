import { createHash, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import type { RegistryClient } from '../oci/client.js';
import { digestOf } from '../oci/digest.js';
import { MediaType, type Descriptor, type ImageManifest } from '../oci/media-types.js';
import { isPullbenchError } from '../errors.js';
import { hashesForKey, publicKeyPem } from './keys.js';
import { resolveImage, signatureTag } from './registry.js';
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
    const location = await pushBundle(client, repo, ref.name, descriptor, opts.key);
    return { image: `${ref.name}@${digest}`, digest, format, location, manifestDigest: location };
  }
  const payload = simpleSigningPayload(ref.name, digest, opts.annotations);
  const signature = signBytes(opts.key, payload).toString('base64');
  const payloadDesc = await pushBytes(client, repo, payload);
  const layer: Descriptor = {
    mediaType: MediaType.CosignSimpleSigning,
    size: payloadDesc.size,
    digest: payloadDesc.digest,
    annotations: { [Annotation.signature]: signature },
  };
  const tag = signatureTag(digest);
  let existing: ImageManifest | undefined;
  try {
    existing = JSON.parse((await client.getManifest(repo, tag)).bytes.toString('utf8')) as ImageManifest;
  } catch (err) {
    if (!isPullbenchError(err, 'MANIFEST_UNKNOWN')) throw err;
  }
  const layers = [...(existing?.layers ?? []).filter((l) => !(l.digest === layer.digest && l.annotations?.[Annotation.signature] === signature)), layer];
  const config = await pushBytes(client, repo, signatureConfig(layers));
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, size: config.size, digest: config.digest },
    layers,
  };
  const pushed = await client.putManifest(repo, tag, Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest);
  return { image: `${ref.name}@${digest}`, digest, format, location: tag, manifestDigest: pushed.digest };
}

const IN_TOTO = 'application/vnd.in-toto+json';

/** DSSE pre-authentication encoding: what a DSSE signature covers. */
function pae(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${payloadType.length} ${payloadType} ${payload.length} `), payload]);
}

/**
 * A Sigstore bundle v0.3 as cosign 3 stores an image signature: a DSSE
 * envelope over an in-toto statement whose subject is the image digest and
 * whose predicate type is `https://sigstore.dev/cosign/sign/v1`; keyed, so the
 * verification material is a public-key hint and there is no tlog entry.
 */
export function signatureBundle(name: string, digest: string, key: KeyObject): unknown {
  const [alg, hex] = digest.split(':');
  const statement = Buffer.from(
    JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name, digest: { [alg!]: hex } }], predicateType: COSIGN_SIGN_PREDICATE, predicate: {} }),
  );
  const hint = createHash('sha256').update(publicKeyPem(key)).digest('base64');
  const json = {
    mediaType: MediaType.SigstoreBundleV03,
    verificationMaterial: { publicKey: { hint }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
    dsseEnvelope: {
      payload: statement.toString('base64'),
      payloadType: IN_TOTO,
      signatures: [{ sig: signBytes(key, pae(IN_TOTO, statement)).toString('base64'), keyid: '' }],
    },
  };
  bundleFromJSON(json);
  return json;
}

const EMPTY_CONFIG = Buffer.from('{}');

async function pushBundle(client: RegistryClient, repo: string, name: string, subject: Descriptor, key: KeyObject): Promise<string> {
  const bundleBytes = Buffer.from(JSON.stringify(signatureBundle(name, subject.digest, key)));
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
      'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE,
      'org.opencontainers.image.created': new Date().toISOString(),
    },
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = digestOf(bytes);
  await client.putManifest(repo, digest, bytes, MediaType.OciManifest);
  return digest;
}
