import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { json as sigstoreJson, X509Certificate } from '@sigstore/core';
import { toSignedEntity, Verifier, VerificationError, type Signer, type TrustMaterial } from '@sigstore/verify';
import { verifySCTs } from '@sigstore/verify/dist/key/sct.js';
import { PullbenchError } from '../errors.js';
import { MediaType } from '../oci/media-types.js';
import { parseReference } from '../oci/reference.js';
import { hashesForKey } from './keys.js';
import type { Trust } from './trust.js';

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
const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';

/** Why one candidate signature was not accepted; each has its own code. */
export type RejectCode =
  | 'NOT_A_SIGNATURE'
  | 'PAYLOAD_INVALID'
  | 'SIGNATURE_MISSING'
  | 'SIGNATURE_INVALID'
  | 'DIGEST_MISMATCH'
  | 'ANNOTATION_MISMATCH'
  | 'REPOSITORY_MISMATCH'
  | 'NO_CERTIFICATE'
  | 'CERT_INVALID'
  | 'CERT_CHAIN_INVALID'
  | 'CERT_EXPIRED'
  | 'IDENTITY_MISMATCH'
  | 'ISSUER_MISMATCH'
  | 'SCT_MISSING'
  | 'SCT_INVALID'
  | 'TLOG_MISSING'
  | 'TLOG_INVALID'
  | 'TLOG_BODY_MISMATCH'
  | 'BUNDLE_INVALID'
  | 'KEY_MISMATCH';

export class SignatureRejected extends Error {
  override readonly name = 'SignatureRejected';
  constructor(
    readonly code: RejectCode,
    message: string,
  ) {
    super(message);
  }
}

/** One layer of a cosign `.sig` manifest: its media type, blob bytes and annotations. */
export interface CosignSignatureLayer {
  mediaType: string;
  payload: Buffer;
  annotations: Record<string, string>;
}

/** A signature found for an image: a legacy `.sig` layer or a Sigstore bundle (referrer). */
export type Candidate =
  | { kind: 'legacy'; source: string; layer: CosignSignatureLayer }
  | { kind: 'bundle'; source: string; bundle: unknown };

/** Certificate identity policy; exact values compare with ===, regexps match anywhere as cosign's do. */
export interface IdentityPolicy {
  identity?: string;
  identityRegexp?: string;
  issuer?: string;
  issuerRegexp?: string;
}

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

/**
 * Compiles a cosign-style `-regexp` flag as an RE2-compatible JS regexp that, like
 * cosign's `regexp.Compile(...).MatchString(san)` (pkg/cosign/verify.go,
 * CheckCertificatePolicy), matches anywhere unless the pattern itself says `^...$`.
 */
export function compileIdentityRegexp(pattern: string): RegExp {
  // RE2 (Go) has no lookaround or backreferences; refuse them instead of silently widening what matches.
  if (/\(\?<?[=!]|\\[1-9]|\\k</.test(pattern)) {
    throw new PullbenchError('INVALID_ARGUMENT', `regexp ${JSON.stringify(pattern)} uses lookaround or backreferences, which Go's RE2 does not support`);
  }
  let flags = 'u';
  let body = pattern;
  const inline = /^\(\?([imsU]+)\)/.exec(body);
  if (inline) {
    if (inline[1]!.includes('U')) throw new PullbenchError('INVALID_ARGUMENT', 'the (?U) flag is not supported');
    flags += inline[1]!;
    body = body.slice(inline[0].length);
  }
  try {
    return new RegExp(body, flags);
  } catch (cause) {
    throw new PullbenchError('INVALID_ARGUMENT', `invalid regexp ${JSON.stringify(pattern)}`, { cause });
  }
}

function reject(code: RejectCode, message: string): never {
  throw new SignatureRejected(code, message);
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

interface RekorBundle {
  SignedEntryTimestamp: string;
  Payload: { body: string; integratedTime: number; logIndex: number; logID: string };
}

/** Verifies cosign's `dev.sigstore.cosign/bundle` (Rekor SET) offline; returns the integrated time. */
function verifyRekorBundle(text: string, payload: Buffer, signature: string, verifier: { key?: KeyObject; cert?: X509Certificate }, trust: Trust | undefined): number {
  let bundle: RekorBundle;
  try {
    bundle = JSON.parse(text) as RekorBundle;
  } catch {
    reject('TLOG_INVALID', 'the Rekor bundle annotation is not JSON');
  }
  const p = bundle?.Payload;
  if (!p || typeof p.body !== 'string' || typeof p.integratedTime !== 'number' || typeof p.logIndex !== 'number' || typeof p.logID !== 'string') {
    reject('TLOG_INVALID', 'the Rekor bundle is missing fields');
  }
  const logs = (trust?.tlogs ?? []).filter((l) => l.logID.toString('hex') === p.logID);
  if (logs.length === 0) reject('TLOG_INVALID', `no trusted Rekor key for log ${p.logID}`);
  const signed = Buffer.from(sigstoreJson.canonicalize({ body: p.body, integratedTime: p.integratedTime, logIndex: p.logIndex, logID: p.logID }));
  const set = b64(bundle.SignedEntryTimestamp ?? '');
  const at = new Date(p.integratedTime * 1000);
  const ok = logs.some((l) => at >= l.validFor.start && at <= l.validFor.end && verifyWithKey(signed, l.publicKey, set));
  if (!ok) reject('TLOG_INVALID', 'the signed entry timestamp does not verify with the trusted Rekor key');
  // The logged entry must be this signature over this payload, by this key or certificate.
  let body: { kind?: string; spec?: { data?: { hash?: { algorithm?: string; value?: string } }; signature?: { content?: string; publicKey?: { content?: string } } } };
  try {
    body = JSON.parse(Buffer.from(p.body, 'base64').toString('utf8')) as typeof body;
  } catch {
    reject('TLOG_BODY_MISMATCH', 'the Rekor entry body is not JSON');
  }
  if (body.kind !== 'hashedrekord') reject('TLOG_BODY_MISMATCH', `unsupported Rekor entry kind ${JSON.stringify(body.kind)}`);
  const hash = body.spec?.data?.hash;
  if (hash?.algorithm !== 'sha256' || hash.value !== createHash('sha256').update(payload).digest('hex')) {
    reject('TLOG_BODY_MISMATCH', 'the Rekor entry logs a different payload');
  }
  if (!b64(body.spec?.signature?.content ?? '').equals(b64(signature))) reject('TLOG_BODY_MISMATCH', 'the Rekor entry logs a different signature');
  const loggedKey = Buffer.from(body.spec?.signature?.publicKey?.content ?? '', 'base64').toString('utf8');
  if (!sameVerifier(loggedKey, verifier)) reject('TLOG_BODY_MISMATCH', 'the Rekor entry logs a different key or certificate');
  return p.integratedTime;
}

function sameVerifier(loggedPem: string, verifier: { key?: KeyObject; cert?: X509Certificate }): boolean {
  try {
    if (verifier.cert && loggedPem.includes('CERTIFICATE')) return X509Certificate.parse(loggedPem).equals(verifier.cert);
    const logged = createPublicKey(loggedPem).export({ format: 'der', type: 'spki' });
    const key = verifier.key ?? createPublicKey({ key: verifier.cert!.publicKey, format: 'der', type: 'spki' });
    return logged.equals(key.export({ format: 'der', type: 'spki' }));
  } catch {
    return false;
  }
}

/** Builds leaf -> ... -> trusted certificate, using the layer's chain as untrusted intermediates. */
function certificatePath(leaf: X509Certificate, untrusted: X509Certificate[], trust: TrustMaterial, at: Date): X509Certificate[] {
  const anchors = trust.certificateAuthorities.filter((ca) => at >= ca.validFor.start && at <= ca.validFor.end).flatMap((ca) => ca.certChain);
  const isTrusted = (c: X509Certificate): boolean => anchors.some((a) => a.equals(c));
  const path = [leaf];
  for (let current = leaf; path.length <= 6; ) {
    if (!current.validForDate(at)) reject('CERT_CHAIN_INVALID', `a certificate in the chain is not valid at ${at.toISOString()}`);
    const issuer = [...anchors, ...untrusted].find((c) => c.subject.equals(current.issuer) && c.isCA && safeVerify(current, c));
    if (!issuer) {
      reject('CERT_CHAIN_INVALID', 'the certificate does not chain to a trusted root');
    }
    if (isTrusted(issuer)) {
      if (!issuer.validForDate(at)) reject('CERT_CHAIN_INVALID', 'the trusted CA certificate is not valid at signing time');
      return [...path, issuer];
    }
    if (issuer.equals(current)) reject('CERT_CHAIN_INVALID', 'the chain ends in an untrusted self-signed certificate');
    path.push(issuer);
    current = issuer;
  }
  return reject('CERT_CHAIN_INVALID', 'certificate chain too long');
}

function safeVerify(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.verify(issuer);
  } catch {
    return false;
  }
}

/** The OIDC issuer recorded by Fulcio (v2 extension, DER UTF8String; else the v1 raw string). */
export function certificateIssuer(cert: X509Certificate): string | undefined {
  const v2 = cert.extension(OID_ISSUER_V2);
  if (v2) return v2.valueObj.subs?.[0]?.value.toString('utf8') ?? v2.value.toString('utf8');
  return cert.extension(OID_ISSUER_V1)?.value.toString('utf8');
}

function matchIdentity(cert: X509Certificate, policy: IdentityPolicy): { subject: string; issuer?: string } {
  const san = cert.extSubjectAltName;
  const subjects = [san?.rfc822Name, san?.uri].filter((s): s is string => s !== undefined);
  const issuer = certificateIssuer(cert);
  if (policy.identity !== undefined && !subjects.includes(policy.identity)) {
    reject('IDENTITY_MISMATCH', `certificate identity ${JSON.stringify(subjects)} is not ${JSON.stringify(policy.identity)}`);
  }
  if (policy.identityRegexp !== undefined) {
    const re = compileIdentityRegexp(policy.identityRegexp);
    if (!subjects.some((s) => re.test(s))) reject('IDENTITY_MISMATCH', `certificate identity ${JSON.stringify(subjects)} does not match ${re.source}`);
  }
  if (policy.issuer !== undefined && issuer !== policy.issuer) {
    reject('ISSUER_MISMATCH', `certificate issuer ${JSON.stringify(issuer)} is not ${JSON.stringify(policy.issuer)}`);
  }
  if (policy.issuerRegexp !== undefined) {
    const re = compileIdentityRegexp(policy.issuerRegexp);
    if (issuer === undefined || !re.test(issuer)) reject('ISSUER_MISMATCH', `certificate issuer ${JSON.stringify(issuer)} does not match ${re.source}`);
  }
  return { subject: subjects[0] ?? '', ...(issuer === undefined ? {} : { issuer }) };
}

function checkCertificate(
  leaf: X509Certificate,
  untrusted: X509Certificate[],
  integratedTime: number | undefined,
  opts: VerifyOptions,
): { subject: string; issuer?: string; sct: 'verified' | 'not-checked' } {
  const trust = opts.trust;
  if (!trust || trust.certificateAuthorities.length === 0) throw new PullbenchError('INVALID_ARGUMENT', 'keyless verification needs a trusted root or CA roots');
  const now = (opts.now ?? (() => new Date()))();
  // With a verified timestamp the certificate must have been valid when signing; without one, now.
  const at = integratedTime !== undefined ? new Date(integratedTime * 1000) : now;
  if (!leaf.validForDate(at)) {
    reject('CERT_EXPIRED', `the signing certificate (valid ${leaf.notBefore.toISOString()}..${leaf.notAfter.toISOString()}) is not valid at ${at.toISOString()}${integratedTime === undefined ? ' and there is no trusted timestamp' : ''}`);
  }
  const path = certificatePath(leaf, untrusted, trust, at);
  let sct: 'verified' | 'not-checked' = 'not-checked';
  if (!opts.ignoreSct && trust.ctlogs.length > 0) {
    if (!leaf.extSCT) reject('SCT_MISSING', 'the certificate has no embedded SCT');
    try {
      if (verifySCTs(leaf, path[1]!, trust.ctlogs).length === 0) reject('SCT_INVALID', 'no SCT verifies');
    } catch (err) {
      if (err instanceof SignatureRejected) throw err;
      reject('SCT_INVALID', `SCT verification failed: ${(err as Error).message}`);
    }
    sct = 'verified';
  }
  return { ...matchIdentity(leaf, opts.identity ?? {}), sct };
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

/** Verifies one layer of a cosign `.sig` manifest against the image's manifest digest. Throws SignatureRejected. */
export function verifyLegacySignature(layer: CosignSignatureLayer, manifestDigest: string, opts: VerifyOptions, source = 'legacy'): VerifiedSignature {
  requireMode(opts);
  if (layer.mediaType !== MediaType.CosignSimpleSigning) reject('NOT_A_SIGNATURE', `layer media type ${layer.mediaType} is not a cosign simple-signing payload`);
  const sigText = layer.annotations[Annotation.signature];
  if (!sigText) reject('SIGNATURE_MISSING', `no ${Annotation.signature} annotation`);
  const signature = b64(sigText);
  let cert: X509Certificate | undefined;
  let key = opts.key;
  if (!key) {
    const pem = layer.annotations[Annotation.certificate];
    if (!pem) reject('NO_CERTIFICATE', 'keyless verification needs a certificate, and this signature has none');
    try {
      cert = X509Certificate.parse(pem);
      key = createPublicKey({ key: cert.publicKey, format: 'der', type: 'spki' });
    } catch {
      reject('CERT_INVALID', 'the certificate annotation is not a valid X.509 certificate');
    }
  }
  if (!verifyWithKey(layer.payload, key, signature)) reject('SIGNATURE_INVALID', 'the signature does not verify over the payload');
  let integratedTime: number | undefined;
  const rekor = layer.annotations[Annotation.bundle];
  if (!opts.ignoreTlog) {
    if (!rekor) reject('TLOG_MISSING', 'no Rekor bundle: the signature is not proven to be in the transparency log (use --insecure-ignore-tlog to accept)');
    integratedTime = verifyRekorBundle(rekor, layer.payload, sigText, cert ? { cert } : { key }, opts.trust);
  }
  let certificate: VerifiedSignature['checks']['certificate'];
  if (cert) {
    const chain = layer.annotations[Annotation.chain];
    let untrusted: X509Certificate[] = [];
    try {
      untrusted = chain ? (chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => X509Certificate.parse(p)) : [];
    } catch {
      reject('CERT_INVALID', 'the chain annotation holds an invalid certificate');
    }
    certificate = checkCertificate(cert, untrusted, integratedTime, opts);
  }
  const payload = checkSimpleSigning(layer.payload, manifestDigest, opts);
  return {
    kind: 'legacy',
    source,
    payload,
    checks: { claims: true, tlog: opts.ignoreTlog ? 'ignored' : 'verified', ...(certificate ? { certificate } : {}) },
    ...(integratedTime === undefined ? {} : { integratedTime }),
  };
}

const SIGSTORE_CODES: Record<string, RejectCode> = {
  SIGNATURE_ERROR: 'SIGNATURE_INVALID',
  CERTIFICATE_ERROR: 'CERT_CHAIN_INVALID',
  PUBLIC_KEY_ERROR: 'KEY_MISMATCH',
  TLOG_ERROR: 'TLOG_MISSING',
  TIMESTAMP_ERROR: 'TLOG_MISSING',
  TLOG_INCLUSION_PROOF_ERROR: 'TLOG_INVALID',
  TLOG_INCLUSION_PROMISE_ERROR: 'TLOG_INVALID',
  TLOG_MISSING_INCLUSION_ERROR: 'TLOG_INVALID',
  TLOG_BODY_ERROR: 'TLOG_BODY_MISMATCH',
};

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
  const trust: TrustMaterial = {
    certificateAuthorities: opts.trust?.certificateAuthorities ?? [],
    timestampAuthorities: opts.trust?.timestampAuthorities ?? [],
    tlogs: opts.trust?.tlogs ?? [],
    ctlogs: opts.trust?.ctlogs ?? [],
    publicKey: () => ({ publicKey: opts.key!, validFor: () => true }),
  };
  // Keyless always needs a timestamp to check the short-lived certificate against.
  const ignoreTlog = opts.ignoreTlog === true && keyed;
  const verifier = new Verifier(trust, {
    tlogThreshold: ignoreTlog ? 0 : 1,
    timestampThreshold: ignoreTlog ? 0 : 1,
    ctlogThreshold: keyed || opts.ignoreSct ? 0 : 1,
  });
  let signer: Signer;
  let payload: unknown;
  if (bundle.content.$case === 'dsseEnvelope') {
    const envelope = bundle.content.dsseEnvelope;
    signer = runSigstore(() => verifier.verify(toSignedEntity(bundle)));
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
    signer = runSigstore(() => verifier.verify(toSignedEntity(bundle, manifestBytes)));
    payload = { critical: { image: { 'docker-manifest-digest': manifestDigest }, type: SIMPLE_SIGNING_TYPE } };
  }
  let certificate: VerifiedSignature['checks']['certificate'];
  if (!keyed) {
    const leafDer = material.$case === 'certificate' ? material.certificate.rawBytes : material.x509CertificateChain.certificates[0]!.rawBytes;
    const leaf = X509Certificate.parse(Buffer.from(leafDer));
    certificate = { ...matchIdentity(leaf, opts.identity ?? {}), sct: opts.ignoreSct ? 'not-checked' : 'verified' };
  }
  void signer;
  const integrated = bundle.verificationMaterial.tlogEntries[0]?.integratedTime;
  return {
    kind: 'bundle',
    source,
    payload,
    checks: { claims: true, tlog: ignoreTlog ? 'ignored' : 'verified', ...(certificate ? { certificate } : {}) },
    ...(integrated ? { integratedTime: Number(integrated) } : {}),
  };
}

function runSigstore<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof VerificationError) {
      const code = SIGSTORE_CODES[err.code] ?? 'SIGNATURE_INVALID';
      // sigstore-js reports SCT failures as certificate errors; keep them apart.
      reject(code === 'CERT_CHAIN_INVALID' && /SCT/i.test(err.message) ? 'SCT_INVALID' : code, err.message);
    }
    reject('BUNDLE_INVALID', (err as Error).message);
  }
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
