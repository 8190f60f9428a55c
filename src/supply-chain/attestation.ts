import type { KeyObject } from 'node:crypto';
import type { RegistryClient } from '../oci/client.js';
import { parseReference, type ImageReference } from '../oci/reference.js';
import { envelopeBundle } from './legacy-bundle.js';
import { clientFor, referrerBundles, resolveImage, tagLayers, type RegistryAccess } from './registry.js';
import { reject, SignatureRejected } from './reject.js';
import { appendLayer, dsseBundleJson, pushReferrerBundle } from './sign.js';
import { IN_TOTO_PAYLOAD_TYPE, inTotoStatement, parseStatement, predicateTypeUri, type InTotoStatement } from './statement.js';
import {
  Annotation,
  checkLegacy,
  COSIGN_SIGN_PREDICATE,
  envelopeSignatureFor,
  verifyBundleSignature,
  type Candidate,
  type CosignSignatureLayer,
  type Rejection,
  type VerifiedSignature,
  type VerifyOptions,
} from './verify.js';

/**
 * Attestations as cosign writes and verifies them (cosign v3
 * cmd/cosign/cli/attest/attest.go AttestCommand.Exec,
 * cmd/cosign/cli/verify/verify_attestation.go, pkg/cosign/verify.go
 * VerifyImageAttestation and verifyOCIAttestation, pkg/policy/attestation.go
 * AttestationToPayloadJSON): a DSSE envelope over an in-toto statement whose
 * subject is the image digest, stored as a layer of the `sha256-<hex>.att`
 * image and/or as a Sigstore bundle referrer.
 */

/** The media type of a `.att` layer (cosign pkg/types DssePayloadType). */
export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';

/** Where cosign stores legacy attestations: the `sha256-<hex>.att` tag (pkg/oci/remote AttestationTag). */
export function attestationTag(digest: string): string {
  return `${digest.replace(':', '-')}.att`;
}

/** `legacy`: the `.att` tag (cosign `--new-bundle-format=false`); `bundle`: a referrer (cosign 3's default); `both`. */
export type AttestFormat = 'legacy' | 'bundle' | 'both';

export interface AttestOptions {
  key: KeyObject;
  /** cosign's `--type`: a name of the predicate table or a URI. */
  type: string;
  /** The predicate file's bytes. */
  predicate: Buffer;
  format?: AttestFormat;
  now?: () => Date;
}

export interface AttestResult {
  image: string;
  digest: string;
  predicateType: string;
  /** The `.att` tag and/or the referrer manifest digest written. */
  locations: string[];
}

// go-containerregistry's Repository.String(): Docker Hub is index.docker.io.
function subjectName(ref: ImageReference): string {
  return ref.domain === 'docker.io' ? `index.docker.io/${ref.path}` : ref.name;
}

/** Attests an image in a registry: signs an in-toto statement about its digest and stores it as cosign does. */
export async function attestImage(client: RegistryClient, image: string, opts: AttestOptions): Promise<AttestResult> {
  const predicateType = predicateTypeUri(opts.type);
  const { ref, digest, descriptor } = await resolveImage(client, image);
  const statement = inTotoStatement({ type: opts.type, predicate: opts.predicate, repository: subjectName(ref), digest, ...(opts.now ? { now: opts.now } : {}) });
  const format = opts.format ?? 'bundle';
  const locations: string[] = [];
  if (format !== 'bundle') {
    const { dsseEnvelope: e } = dsseBundleJson(statement, opts.key) as { dsseEnvelope: { payloadType: string; payload: string; signatures: { sig: string }[] } };
    // The field order of go-securesystemslib's dsse.Envelope, which cosign marshals.
    const envelope = Buffer.from(JSON.stringify({ payloadType: e.payloadType, payload: e.payload, signatures: e.signatures.map((s) => ({ keyid: '', sig: s.sig })) }));
    const tag = attestationTag(digest);
    // static.NewAttestation: the signature is inside the envelope, so the signature annotation is empty.
    await appendLayer(client, ref.path, tag, envelope, DSSE_ENVELOPE_MEDIA_TYPE, { predicateType, [Annotation.signature]: '' });
    locations.push(tag);
  }
  if (format !== 'legacy') locations.push(await pushReferrerBundle(client, ref.path, descriptor, dsseBundleJson(statement, opts.key), predicateType));
  return { image: `${ref.name}@${digest}`, digest, predicateType, locations };
}

/** Every attestation cosign would consider for an image: referrer bundles, then the layers of the `.att` tag. */
export async function readAttestations(client: RegistryClient, repo: string, digest: string): Promise<Candidate[]> {
  const [bundles, legacy] = await Promise.all([referrerBundles(client, repo, digest), tagLayers(client, repo, attestationTag(digest))]);
  // Image signatures stored as bundles (cosign sign/v1) are not attestations.
  return [...bundles.filter((b) => b.kind === 'bundle' && b.predicateType !== COSIGN_SIGN_PREDICATE), ...legacy];
}

function b64(value: unknown): Buffer {
  return Buffer.from(typeof value === 'string' ? value : '', 'base64');
}

function parseEnvelope(bytes: Buffer): { payload: Buffer; signatures: Buffer[] } {
  let env: { payloadType?: unknown; payload?: unknown; signatures?: { sig?: unknown }[] };
  try {
    env = JSON.parse(bytes.toString('utf8')) as typeof env;
  } catch {
    reject('PAYLOAD_INVALID', 'the DSSE envelope is not JSON');
  }
  // verifyOCIAttestation: only in-toto payloads are attestations.
  if (env?.payloadType !== IN_TOTO_PAYLOAD_TYPE) reject('PAYLOAD_INVALID', `invalid payloadType ${JSON.stringify(env?.payloadType)} on envelope, expected ${IN_TOTO_PAYLOAD_TYPE}`);
  if (typeof env.payload !== 'string') reject('PAYLOAD_INVALID', 'the DSSE envelope has no payload');
  return { payload: b64(env.payload), signatures: (Array.isArray(env.signatures) ? env.signatures : []).map((s) => b64(s?.sig)) };
}

/**
 * What an attestation claims, checked as cosign's IntotoSubjectClaimVerifier
 * (pkg/cosign/verifiers.go): an in-toto statement of which a subject, in
 * order, has the image's sha256; a null subject before it is an error.
 */
function statementClaims(payload: Buffer, manifestDigest: string): InTotoStatement {
  const statement = parseStatement(payload);
  if (!statement) reject('PAYLOAD_INVALID', 'the DSSE payload is not an in-toto statement');
  for (const subject of statement.subject) {
    if (!subject) reject('PAYLOAD_INVALID', 'invalid in-toto statement: null subject entry');
    if (`sha256:${subject.digest?.sha256}` === manifestDigest) return statement;
  }
  return reject('DIGEST_MISMATCH', `no in-toto subject has digest ${manifestDigest}`);
}

/** The claims of a DSSE envelope (a `.att` layer's bytes), without its signature: for vectors and policies that hold verified bytes. */
export function envelopeClaims(envelope: Buffer, manifestDigest: string): InTotoStatement {
  return statementClaims(parseEnvelope(envelope).payload, manifestDigest);
}

/**
 * Verifies one `.att` layer: the DSSE envelope's signature (cosign
 * verifyOCIAttestation), Rekor and certificate as for signatures, then what
 * the statement claims. Throws SignatureRejected.
 */
export function verifyLegacyAttestation(layer: CosignSignatureLayer, manifestDigest: string, opts: VerifyOptions, source = 'legacy'): VerifiedSignature {
  if (layer.mediaType !== DSSE_ENVELOPE_MEDIA_TYPE) reject('NOT_AN_ATTESTATION', `layer media type ${layer.mediaType} is not a DSSE envelope`);
  const { payload, signatures } = parseEnvelope(layer.payload);
  if (signatures.length === 0) reject('SIGNATURE_MISSING', 'the DSSE envelope has no signature');
  const checks = checkLegacy(
    {
      annotations: layer.annotations,
      tlogKinds: ['intoto', 'dsse'],
      signatureFor: (key) => envelopeSignatureFor(IN_TOTO_PAYLOAD_TYPE, payload, signatures, key),
      bundle: (signature, material) => envelopeBundle(IN_TOTO_PAYLOAD_TYPE, payload, signature, material),
    },
    opts,
  );
  const statement = statementClaims(payload, manifestDigest);
  const { integratedTime, ...rest } = checks;
  return { kind: 'legacy', source, payload: statement, checks: rest, ...(integratedTime === undefined ? {} : { integratedTime }) };
}

/** One verified attestation: its statement, predicate type and predicate. */
export interface VerifiedAttestation extends Omit<VerifiedSignature, 'payload'> {
  statement: InTotoStatement;
  predicateType: string;
  predicate: unknown;
}

export interface AttestationOptions extends VerifyOptions {
  /** cosign's `--type` (default `custom`, as cosign): only statements of this predicate type are returned. */
  type?: string;
}

/** `no-attestations`: nothing stored; `no-matching-attestation`: none verified; `no-matching-predicate`: verified, but none of `--type`. */
export type AttestationDecision = 'verified' | 'no-attestations' | 'no-matching-attestation' | 'no-matching-predicate';

export interface AttestationOutcome {
  decision: AttestationDecision;
  /** Verified statements of the requested predicate type. */
  attestations: VerifiedAttestation[];
  /** Every verified statement, whatever its predicate type (for policies over several types). */
  verified: VerifiedAttestation[];
  rejected: Rejection[];
  /** Predicate types of every verified statement (cosign's "found: ..."). */
  predicateTypes: string[];
}

/** Verifies every candidate; returns the verified statements of the requested predicate type. Pure and synchronous. */
export function verifyAttestationCandidates(candidates: Candidate[], manifestDigest: string, opts: AttestationOptions): AttestationOutcome {
  const wanted = predicateTypeUri(opts.type ?? 'custom');
  const verified: VerifiedAttestation[] = [];
  const rejected: Rejection[] = [];
  let considered = 0;
  const { predicateTypes: _signatureTypes, ...bundleOpts } = opts;
  for (const c of candidates) {
    try {
      const v =
        c.kind === 'legacy'
          ? verifyLegacyAttestation(c.layer, manifestDigest, opts, c.source)
          : verifyBundleSignature(c.bundle, manifestDigest, undefined, bundleOpts, c.source);
      const statement = v.payload as InTotoStatement;
      // Image signatures stored as bundles (sign/v1) are not attestations.
      if (statement.predicateType === COSIGN_SIGN_PREDICATE) continue;
      considered++;
      const { payload: _payload, ...rest } = v;
      verified.push({ ...rest, statement, predicateType: statement.predicateType, predicate: statement.predicate });
    } catch (err) {
      if (!(err instanceof SignatureRejected)) throw err;
      considered++;
      rejected.push({ source: c.source, code: err.code, message: err.message });
    }
  }
  const attestations = verified.filter((a) => a.predicateType === wanted);
  const decision: AttestationDecision =
    considered === 0 ? 'no-attestations' : verified.length === 0 ? 'no-matching-attestation' : attestations.length === 0 ? 'no-matching-predicate' : 'verified';
  return { decision, attestations, verified, rejected, predicateTypes: [...new Set(verified.map((a) => a.predicateType))] };
}

export interface AttestationVerification extends AttestationOutcome {
  image: string;
  digest: string;
}

export interface VerifyAttestationsOptions extends AttestationOptions {
  access?: RegistryAccess;
  client?: RegistryClient;
}

/**
 * Resolves `image`, reads its attestations (referrer bundles and the `.att`
 * tag) and verifies them: the library API under `pullbench
 * verify-attestation` and attestation policies. Registry errors are thrown
 * (a missing tag is MANIFEST_UNKNOWN); verification problems are in the result.
 */
export async function verifyAttestations(image: string, opts: VerifyAttestationsOptions): Promise<AttestationVerification> {
  const ref = parseReference(image);
  const client = opts.client ?? clientFor(ref, opts.access);
  const resolved = await resolveImage(client, ref);
  const candidates = await readAttestations(client, ref.path, resolved.digest);
  return { image: `${ref.name}@${resolved.digest}`, digest: resolved.digest, ...verifyAttestationCandidates(candidates, resolved.digest, opts) };
}

