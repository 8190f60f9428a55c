import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { PullbenchError } from '../errors.js';

/**
 * What a verifier trusts: certificate authorities (Fulcio or a private PKI),
 * transparency logs (Rekor keys, for signed entry timestamps) and CT logs (for
 * SCTs). This is sigstore-js's TrustMaterial, built from a TrustedRoot JSON
 * file or from PEM files, so one shape serves both legacy and bundle checks.
 */
export type Trust = TrustMaterial;

const ALWAYS = { start: new Date(0), end: new Date(8.64e15) };

function noKeys(): never {
  throw new PullbenchError('INVALID_ARGUMENT', 'no public key configured');
}

/** Parses a sigstore TrustedRoot (`trusted_root.json`, media type application/vnd.dev.sigstore.trustedroot+json). */
export function trustFromTrustedRootJson(text: string): Trust {
  try {
    const json = JSON.parse(text) as { mediaType?: string };
    if (typeof json.mediaType !== 'string' || !json.mediaType.startsWith('application/vnd.dev.sigstore.trustedroot')) {
      throw new Error(`mediaType ${JSON.stringify(json.mediaType)} is not a sigstore trusted root`);
    }
    return toTrustMaterial(TrustedRoot.fromJSON(json), noKeys);
  } catch (cause) {
    if (cause instanceof PullbenchError) throw cause;
    throw new PullbenchError('TRUSTED_ROOT_INVALID', `invalid trusted root: ${(cause as Error).message}`, { cause });
  }
}

/** Every certificate in a PEM bundle. */
function parseCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  try {
    return blocks.map((b) => X509Certificate.parse(b));
  } catch (cause) {
    throw new PullbenchError('TRUSTED_ROOT_INVALID', 'invalid PEM certificate', { cause });
  }
}

/** Rekor/CT log ID: SHA-256 of the key's SubjectPublicKeyInfo DER. */
function logIdOf(key: KeyObject): Buffer {
  return createHash('sha256').update(key.export({ format: 'der', type: 'spki' })).digest();
}

export interface PemTrustInput {
  /** Root certificates (PEM bundle): Fulcio's root, or a private CA's (`--ca-roots`). */
  caRoots?: string;
  /** Intermediates (PEM bundle) that are trusted as part of the CA (`--ca-intermediates`). */
  caIntermediates?: string;
  /** Rekor public keys (PEM), for signed entry timestamps. */
  rekorKeys?: string[];
  /** CT log public keys (PEM), for SCTs. */
  ctlogKeys?: string[];
}

/** Trust from loose PEM files, as cosign's `--ca-roots`, `SIGSTORE_REKOR_PUBLIC_KEY`, `SIGSTORE_CT_LOG_PUBLIC_KEY_FILE`. */
export function trustFromPem(input: PemTrustInput): Trust {
  const roots = input.caRoots ? parseCertificates(input.caRoots) : [];
  const intermediates = input.caIntermediates ? parseCertificates(input.caIntermediates) : [];
  if (input.caRoots && roots.length === 0) throw new PullbenchError('TRUSTED_ROOT_INVALID', 'no certificate in the CA roots file');
  const logs = (pems: string[] | undefined): Trust['tlogs'] =>
    (pems ?? []).map((pem) => {
      let publicKey: KeyObject;
      try {
        publicKey = createPublicKey(pem);
      } catch (cause) {
        throw new PullbenchError('TRUSTED_ROOT_INVALID', 'invalid PEM public key for a log', { cause });
      }
      return { logID: logIdOf(publicKey), baseURL: '', publicKey, validFor: ALWAYS };
    });
  return {
    certificateAuthorities: roots.map((root) => ({ certChain: [...intermediates, root], validFor: ALWAYS })),
    timestampAuthorities: [],
    tlogs: logs(input.rekorKeys),
    ctlogs: logs(input.ctlogKeys),
    publicKey: noKeys,
  };
}

/** Merges trust from several sources (a trusted root plus extra PEM files). */
export function mergeTrust(...parts: Trust[]): Trust {
  return {
    certificateAuthorities: parts.flatMap((p) => p.certificateAuthorities),
    timestampAuthorities: parts.flatMap((p) => p.timestampAuthorities),
    tlogs: parts.flatMap((p) => p.tlogs),
    ctlogs: parts.flatMap((p) => p.ctlogs),
    publicKey: noKeys,
  };
}

/** A short stable fingerprint of the trust material (verification cache key). */
export function trustFingerprint(trust: Trust | undefined, key?: KeyObject): string {
  const h = createHash('sha256');
  for (const ca of trust?.certificateAuthorities ?? []) for (const c of ca.certChain) h.update(c.root.toDER());
  for (const log of [...(trust?.tlogs ?? []), ...(trust?.ctlogs ?? [])]) h.update(log.logID);
  if (key) h.update(key.export({ format: 'der', type: 'spki' }));
  return h.digest('hex').slice(0, 16);
}
