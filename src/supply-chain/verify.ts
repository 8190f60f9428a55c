import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { dsse, X509Certificate } from '@sigstore/core';
import { PullbenchError } from '../errors.js';
import { MediaType } from '../oci/media-types.js';
import { parseReference } from '../oci/reference.js';
import { matchIdentity, type IdentityPolicy } from './identity.js';
import { hashesForKey } from './keys.js';
import { checkLoggedVerifier, messageBundle, parseRekorAnnotation, withIntermediates, type LegacyMaterial, type RekorEntry } from './legacy-bundle.js';
import { reject, SignatureRejected, type RejectCode } from './reject.js';
import { verifyWithSigstore } from './sigstore-check.js';
import type { Trust } from './trust.js';

export { compileIdentityRegexp, certificateIssuer, type IdentityPolicy } from './identity.js';
export { SignatureRejected, type RejectCode } from './reject.js';

/** Annotation names cosign puts on a `sha256-<hex>.sig` layer (cosign `pkg/oci/static`). */
export const Annotation = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  bundle: 'dev.sigstore.cosign/bundle',
} as const;

export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';
/** The predicate type cosign 3 gives image signatures stored as Sigstore bundles (DSSE in-toto statements). */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

/** One layer of a cosign `.sig` manifest: its media type, blob bytes and annotations. */
export interface CosignSignatureLayer {
  mediaType: string;
  payload: Buffer;
  annotations: Record<string, string>;
}

/** A signature found for an image: a legacy `.sig` layer or a Sigstore bundle (referrer). */
export type Candidate =
  | { kind: 'legacy'; source: string; layer: CosignSignatureLayer }
  | { kind: 'bundle'; source: string; bundle: unknown; /** The referrer's `dev.sigstore.bundle.predicateType` annotation. */ predicateType?: string };

export interface VerifyOptions {
  /** Keyed verification (`--key`): the certificate, if any, is not consulted. */
  key?: KeyObject;
  /** Keyless verification: the certificate must chain to `trust` and match. */
  identity?: IdentityPolicy;
  trust?: Trust;
  /** `--insecure-ignore-tlog`: accept signatures without a verified Rekor entry. */
  ignoreTlog?: boolean;
  /** `--insecure-ignore-sct`: do not require an SCT where CT logs are configured. */
  ignoreSct?: boolean;
  /** `-a key=value`: required values in the payload's `optional` section. */
  annotations?: Record<string, string>;
  /** When set, the payload's docker-reference repository must equal this (cosign does not check this). */
  repository?: string;
  /** DSSE bundles: accepted in-toto predicate types (image verification passes cosign's sign/v1 only). */
  predicateTypes?: string[];
  /** Clock for certificate expiry when there is no trusted timestamp. */
  now?: () => Date;
}

export interface VerifiedSignature {
  kind: 'legacy' | 'bundle';
  source: string;
  /** The verified payload (simple-signing JSON, or the in-toto statement of a DSSE bundle). */
  payload: unknown;
  checks: {
    claims: boolean;
    tlog: 'verified' | 'ignored';
    certificate?: { subject: string; issuer?: string; sct: 'verified' | 'not-checked' };
  };
  integratedTime?: number;
}

export interface Rejection {
  source: string;
  code: RejectCode;
  message: string;
}

export interface VerificationOutcome {
  verified: VerifiedSignature[];
  rejected: Rejection[];
}

function b64(value: string): Buffer {
  return Buffer.from(value.replace(/\s+/g, ''), 'base64');
}

/** The normalised repository of a docker-reference (drops `:tag` and `@digest`; `index.docker.io` is `docker.io`). */
export function repositoryOf(reference: string): string {
  try {
    return parseReference(reference).name;
  } catch {
    const noDigest = reference.split('@')[0]!;
    const slash = noDigest.lastIndexOf('/');
    const colon = noDigest.lastIndexOf(':');
    return colon > slash ? noDigest.slice(0, colon) : noDigest;
  }
}

interface SimpleSigning {
  critical: { identity: { 'docker-reference': string }; image: { 'docker-manifest-digest': string }; type: string };
  optional?: Record<string, unknown> | null;
}

function checkSimpleSigning(payload: Buffer, manifestDigest: string, opts: VerifyOptions): SimpleSigning {
  let doc: SimpleSigning;
  try {
    doc = JSON.parse(payload.toString('utf8')) as SimpleSigning;
  } catch {
    reject('PAYLOAD_INVALID', 'the payload is not JSON');
  }
  const critical = doc?.critical;
  if (critical?.type !== SIMPLE_SIGNING_TYPE) reject('PAYLOAD_INVALID', `payload type is ${JSON.stringify(critical?.type)}, not "${SIMPLE_SIGNING_TYPE}"`);
  const claimed = critical.image?.['docker-manifest-digest'];
  if (claimed !== manifestDigest) reject('DIGEST_MISMATCH', `the payload claims ${String(claimed)}, the image is ${manifestDigest}`);
  checkAnnotations(doc.optional, opts);
  if (opts.repository !== undefined) {
    const ref = critical.identity?.['docker-reference'];
    if (typeof ref !== 'string' || repositoryOf(ref) !== repositoryOf(opts.repository)) {
      reject('REPOSITORY_MISMATCH', `the payload names ${JSON.stringify(ref)}, expected repository ${opts.repository}`);
    }
  }
  return doc;
}

function checkAnnotations(optional: Record<string, unknown> | null | undefined, opts: VerifyOptions): void {
  for (const [k, v] of Object.entries(opts.annotations ?? {})) {
    const got = optional?.[k];
    if (got !== v) reject('ANNOTATION_MISMATCH', `annotation ${k}: expected ${JSON.stringify(v)}, got ${JSON.stringify(got)}`);
  }
}

/** Verifies `signature` over `data` with every hash cosign may have signed with for this key type. */
function verifyWithKey(data: Buffer, key: KeyObject, signature: Buffer): boolean {
  for (const hash of hashesForKey(key)) {
    try {
      if (cryptoVerify(hash, data, key, signature)) return true;
    } catch {
      // a malformed signature for this hash: try the next, then fail
    }
  }
  return false;
}

function requireMode(opts: VerifyOptions): void {
  if (!opts.key && !opts.identity) throw new PullbenchError('INVALID_ARGUMENT', 'give a key, or a certificate identity and issuer for keyless verification');
  if (opts.identity) {
    const i = opts.identity;
    // cosign also requires an issuer; the command enforces that, except for a private PKI without Fulcio extensions.
    if ((i.identity ?? i.identityRegexp) === undefined) {
      throw new PullbenchError('INVALID_ARGUMENT', 'keyless verification needs --certificate-identity or --certificate-identity-regexp');
    }
  }
}

function certificatesOf(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => X509Certificate.parse(p));
}

/** A legacy layer to check: what it signs, and how it becomes a bundle once the signing key is known. */
export interface LegacyInput {
  annotations: Record<string, string>;
  /** Rekor entry kinds that may log this signature. */
  tlogKinds: readonly string[];
  /** The signature that verifies with `key` (cosign's hashes for the key type), if any. */
  signatureFor(key: KeyObject): Buffer | undefined;
  bundle(signature: Buffer, material: LegacyMaterial): Bundle;
  /** The signed bytes of a message signature. */
  artifact?: Buffer;
}

export type LegacyChecks = Pick<VerifiedSignature, 'checks' | 'integratedTime'>['checks'] & { integratedTime?: number };

/**
 * Checks a legacy cosign `.sig` or `.att` layer (cosign pkg/cosign/verify.go
 * verifyInternal): the signature with the key or certificate, then, through
 * @sigstore/verify, the certificate chain (with the layer's chain as untrusted
 * intermediates), SCTs, and the Rekor SET and logged entry; then the identity.
 * The caller checks what the payload claims. Throws SignatureRejected.
 */
export function checkLegacy(input: LegacyInput, opts: VerifyOptions): LegacyChecks {
  requireMode(opts);
  const ann = input.annotations;
  let cert: X509Certificate | undefined;
  let chain: X509Certificate[] = [];
  let key = opts.key;
  if (!key) {
    const pem = ann[Annotation.certificate];
    if (!pem) reject('NO_CERTIFICATE', 'keyless verification needs a certificate, and this signature has none');
    try {
      cert = X509Certificate.parse(pem);
      key = createPublicKey({ key: cert.publicKey, format: 'der', type: 'spki' });
    } catch {
      reject('CERT_INVALID', 'the certificate annotation is not a valid X.509 certificate');
    }
    try {
      const chainPem = ann[Annotation.chain];
      chain = chainPem ? certificatesOf(chainPem) : [];
    } catch {
      reject('CERT_INVALID', 'the chain annotation holds an invalid certificate');
    }
  }
  const signature = input.signatureFor(key);
  if (!signature) reject('SIGNATURE_INVALID', 'the signature does not verify over the payload');
  let rekor: RekorEntry | undefined;
  if (!opts.ignoreTlog) {
    const text = ann[Annotation.bundle];
    if (!text) reject('TLOG_MISSING', 'no Rekor bundle: the signature is not proven to be in the transparency log (use --insecure-ignore-tlog to accept)');
    rekor = parseRekorAnnotation(text, input.tlogKinds);
  }
  const trust = opts.trust;
  let sct: 'verified' | 'not-checked' = 'not-checked';
  let clock: Date | undefined;
  if (cert) {
    if (!trust || trust.certificateAuthorities.length === 0) throw new PullbenchError('INVALID_ARGUMENT', 'keyless verification needs a trusted root or CA roots');
    // With a logged timestamp the certificate must have been valid when signing; without one, now (cosign CheckExpiry).
    const at = rekor ? new Date(rekor.integratedTime * 1000) : (opts.now ?? (() => new Date()))();
    if (!cert.validForDate(at)) {
      reject('CERT_EXPIRED', `the signing certificate (valid ${cert.notBefore.toISOString()}..${cert.notAfter.toISOString()}) is not valid at ${at.toISOString()}${rekor ? '' : ' and there is no trusted timestamp'}`);
    }
    if (!rekor) clock = at;
    if (!opts.ignoreSct && trust.ctlogs.length > 0) {
      if (!cert.extSCT) reject('SCT_MISSING', 'the certificate has no embedded SCT');
      sct = 'verified';
    }
  }
  verifyWithSigstore({
    bundle: input.bundle(signature, { ...(cert ? { cert } : {}), ...(rekor ? { rekor } : {}) }),
    ...(input.artifact ? { artifact: input.artifact } : {}),
    ...(opts.key ? { key: opts.key } : {}),
    ...(trust ? { trust: cert ? withIntermediates(trust, chain) : trust } : {}),
    tlogThreshold: rekor ? 1 : 0,
    ctlogThreshold: sct === 'verified' ? 1 : 0,
    skipScts: sct !== 'verified',
    ...(clock ? { clock } : {}),
    verifiedKey: key,
  });
  if (rekor) checkLoggedVerifier(rekor, cert ? { cert } : { key });
  const certificate = cert ? { ...matchIdentity(cert, opts.identity ?? {}), sct } : undefined;
  return { claims: true, tlog: rekor ? 'verified' : 'ignored', ...(certificate ? { certificate } : {}), ...(rekor ? { integratedTime: rekor.integratedTime } : {}) };
}

function splitChecks(c: LegacyChecks): Pick<VerifiedSignature, 'checks' | 'integratedTime'> {
  const { integratedTime, ...checks } = c;
  return { checks, ...(integratedTime === undefined ? {} : { integratedTime }) };
}

/** Verifies one layer of a cosign `.sig` manifest against the image's manifest digest. Throws SignatureRejected. */
export function verifyLegacySignature(layer: CosignSignatureLayer, manifestDigest: string, opts: VerifyOptions, source = 'legacy'): VerifiedSignature {
  requireMode(opts);
  if (layer.mediaType !== MediaType.CosignSimpleSigning) reject('NOT_A_SIGNATURE', `layer media type ${layer.mediaType} is not a cosign simple-signing payload`);
  const sigText = layer.annotations[Annotation.signature];
  if (!sigText) reject('SIGNATURE_MISSING', `no ${Annotation.signature} annotation`);
  const sig = b64(sigText);
  const checks = checkLegacy(
    {
      annotations: layer.annotations,
      tlogKinds: ['hashedrekord'],
      signatureFor: (key) => (verifyWithKey(layer.payload, key, sig) ? sig : undefined),
      bundle: (signature, material) => messageBundle(layer.payload, signature, material),
      artifact: layer.payload,
    },
    opts,
  );
  const payload = checkSimpleSigning(layer.payload, manifestDigest, opts);
  return { kind: 'legacy', source, payload, ...splitChecks(checks) };
}

/** A DSSE envelope's signature that verifies with `key` (any of them, as DSSE's threshold of one). */
export function envelopeSignatureFor(payloadType: string, payload: Buffer, signatures: Buffer[], key: KeyObject): Buffer | undefined {
  const pae = dsse.preAuthEncoding(payloadType, payload);
  return signatures.find((s) => verifyWithKey(pae, key, s));
}

/**
 * Verifies a Sigstore bundle (v0.1-v0.3) for an image: DSSE in-toto statements
 * whose subject is the image digest, or a message signature over the manifest
 * bytes. Cryptography, tlog and certificate chain by @sigstore/verify;
 * identities matched here, exactly.
 */
export function verifyBundleSignature(json: unknown, manifestDigest: string, manifestBytes: Buffer | undefined, opts: VerifyOptions, source = 'bundle'): VerifiedSignature {
  requireMode(opts);
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (err) {
    reject('BUNDLE_INVALID', `not a valid Sigstore bundle: ${(err as Error).message}`);
  }
  const material = bundle.verificationMaterial.content;
  const keyed = material.$case === 'publicKey';
  if (opts.key && !keyed) reject('KEY_MISMATCH', 'the bundle carries a certificate, but a key was given');
  if (!opts.key && keyed) reject('NO_CERTIFICATE', 'the bundle has no certificate for keyless verification');
  // Keyless always needs a timestamp to check the short-lived certificate against.
  const ignoreTlog = opts.ignoreTlog === true && keyed;
  const check = { bundle, ...(opts.key ? { key: opts.key } : {}), ...(opts.trust ? { trust: opts.trust } : {}), tlogThreshold: ignoreTlog ? 0 : 1, ctlogThreshold: keyed || opts.ignoreSct ? 0 : 1, skipScts: opts.ignoreSct === true } as const;
  let payload: unknown;
  if (bundle.content.$case === 'dsseEnvelope') {
    const envelope = bundle.content.dsseEnvelope;
    verifyWithSigstore(check);
    try {
      payload = JSON.parse(envelope.payload.toString('utf8'));
    } catch {
      reject('PAYLOAD_INVALID', 'the DSSE payload is not JSON');
    }
    const statement = payload as { subject?: { digest?: Record<string, string> }[]; predicateType?: string };
    if (opts.predicateTypes && !opts.predicateTypes.includes(String(statement.predicateType))) {
      reject('NOT_A_SIGNATURE', `predicate type ${JSON.stringify(statement.predicateType)} is not an image signature (${opts.predicateTypes.join(', ')})`);
    }
    const [alg, hex] = manifestDigest.split(':');
    if (!statement.subject?.some((s) => s.digest?.[alg!] === hex)) reject('DIGEST_MISMATCH', `no in-toto subject has digest ${manifestDigest}`);
  } else {
    const sig = bundle.content.messageSignature;
    const [alg, hex] = manifestDigest.split(':');
    if (alg !== 'sha256' || !sig.messageDigest || !sig.messageDigest.digest.equals(Buffer.from(hex!, 'hex'))) {
      reject('DIGEST_MISMATCH', `the bundle signs a different digest than ${manifestDigest}`);
    }
    if (!manifestBytes) reject('DIGEST_MISMATCH', 'the manifest bytes are needed to check a message signature');
    verifyWithSigstore({ ...check, artifact: manifestBytes });
    payload = { critical: { image: { 'docker-manifest-digest': manifestDigest }, type: SIMPLE_SIGNING_TYPE } };
  }
  let certificate: VerifiedSignature['checks']['certificate'];
  if (!keyed) {
    const leafDer = material.$case === 'certificate' ? material.certificate.rawBytes : material.x509CertificateChain.certificates[0]!.rawBytes;
    const leaf = X509Certificate.parse(Buffer.from(leafDer));
    certificate = { ...matchIdentity(leaf, opts.identity ?? {}), sct: opts.ignoreSct ? 'not-checked' : 'verified' };
  }
  const integrated = bundle.verificationMaterial.tlogEntries[0]?.integratedTime;
  return {
    kind: 'bundle',
    source,
    payload,
    checks: { claims: true, tlog: ignoreTlog ? 'ignored' : 'verified', ...(certificate ? { certificate } : {}) },
    ...(integrated ? { integratedTime: Number(integrated) } : {}),
  };
}

/** Tries every candidate; at least one verified signature suffices. Reasons are kept for each rejection. */
export function verifyCandidates(candidates: Candidate[], manifestDigest: string, manifestBytes: Buffer | undefined, opts: VerifyOptions): VerificationOutcome {
  requireMode(opts);
  const outcome: VerificationOutcome = { verified: [], rejected: [] };
  for (const c of candidates) {
    try {
      outcome.verified.push(
        c.kind === 'legacy'
          ? verifyLegacySignature(c.layer, manifestDigest, opts, c.source)
          : verifyBundleSignature(c.bundle, manifestDigest, manifestBytes, opts, c.source),
      );
    } catch (err) {
      if (!(err instanceof SignatureRejected)) throw err;
      outcome.rejected.push({ source: c.source, code: err.code, message: err.message });
    }
  }
  return outcome;
}

/** Parses one `signature-N` file of containers/image's `dir:` layout (`\x00sigstore-json\n` + JSON). */
export function parseDirSignature(bytes: Buffer): CosignSignatureLayer | undefined {
  const prefix = Buffer.from('\x00sigstore-json\n');
  if (!bytes.subarray(0, prefix.length).equals(prefix)) return undefined;
  try {
    const doc = JSON.parse(bytes.subarray(prefix.length).toString('utf8')) as { mimeType: string; payload: string; annotations?: Record<string, string> };
    return { mediaType: doc.mimeType, payload: Buffer.from(doc.payload, 'base64'), annotations: doc.annotations ?? {} };
  } catch {
    return undefined;
  }
}

/**
 * The digest of a manifest as stored. Schema 1 manifests (JWS-signed, digested
 * without their signatures) and bytes that are not a JSON manifest cannot be
 * digested here: INVALID_MANIFEST.
 */
export function digestManifest(bytes: Buffer): string {
  let doc: { schemaVersion?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8')) as { schemaVersion?: unknown };
  } catch (cause) {
    throw new PullbenchError('INVALID_MANIFEST', 'the manifest is not JSON', { cause });
  }
  if (doc?.schemaVersion !== 2) throw new PullbenchError('INVALID_MANIFEST', `cannot digest a schemaVersion ${String(doc?.schemaVersion)} manifest`);
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
