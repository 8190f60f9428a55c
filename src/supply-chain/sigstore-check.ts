import type { KeyObject } from 'node:crypto';
import type { Bundle, TransparencyLogEntry } from '@sigstore/bundle';
import { EXTENSION_OID_SCT, type X509Certificate } from '@sigstore/core';
import { toSignedEntity, Verifier, VerificationError, type SignedEntity, type TrustMaterial } from '@sigstore/verify';
import type { Trust } from './trust.js';
import { SignatureRejected, type RejectCode } from './reject.js';

/**
 * The cryptographic checks of a signature, all through @sigstore/verify's
 * public API (Verifier over a SignedEntity): the certificate chain to a trusted
 * CA at the signing time, embedded SCTs, Rekor signed entry timestamps and that
 * the logged entry is this signature over this content. Legacy cosign
 * signatures are first rewritten as bundles (legacy-bundle.ts), so one path
 * serves both.
 */
export interface SigstoreCheck {
  bundle: Bundle;
  /** The signed bytes of a message signature (the simple-signing payload, or the manifest). */
  artifact?: Buffer;
  /** The key given with `--key`; absent for keyless. */
  key?: KeyObject;
  trust?: Trust;
  tlogThreshold: 0 | 1;
  ctlogThreshold: 0 | 1;
  /**
   * Check the certificate chain at this time: cosign's `time.Now()` when a
   * keyless signature has no trusted timestamp (`--insecure-ignore-tlog`).
   */
  clock?: Date;
  /**
   * Embedded SCTs are not checked (no CT log key is trusted, or
   * `--insecure-ignore-sct`): the library checks every SCT a certificate
   * carries, so it is shown the certificate without them for that step.
   */
  skipScts?: boolean;
  /**
   * The signature was verified with this key for every hash cosign signs with
   * (keys.ts hashesForKey); the library's signer must be this same key.
   */
  verifiedKey?: KeyObject;
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

// A timestamp of the verifier's own clock, in the shape the library reads a Rekor time from (getTLogTimestamp).
function clockTimestamp(at: Date): SignedEntity['timestamps'][number] {
  const entry: TransparencyLogEntry = {
    logIndex: '0',
    logId: { keyId: Buffer.from('verifier-clock') },
    kindVersion: { kind: 'clock', version: '0' },
    integratedTime: String(Math.floor(at.getTime() / 1000)),
    inclusionPromise: { signedEntryTimestamp: Buffer.alloc(0) },
    inclusionProof: undefined,
    canonicalizedBody: Buffer.alloc(0),
  };
  return { $case: 'transparency-log', tlogEntry: entry };
}

// The same certificate, whose copies (the library's SCT check works on a copy, key/sct.js) lack the SCT extension.
function withoutScts(cert: X509Certificate): X509Certificate {
  const view = Object.create(cert) as X509Certificate;
  view.clone = () => {
    const copy = cert.clone();
    const i = copy.extensions.findIndex((e) => e.subs[0]?.toOID() === EXTENSION_OID_SCT);
    if (i >= 0) copy.extensions.splice(i, 1);
    return copy;
  };
  return view;
}

function entityOf(check: SigstoreCheck): SignedEntity {
  const base = toSignedEntity(check.bundle, check.artifact);
  const key = check.skipScts && base.key.$case === 'certificate' ? { $case: 'certificate' as const, certificate: withoutScts(base.key.certificate) } : base.key;
  const { verifiedKey } = check;
  const signature = verifiedKey
    ? {
        signature: base.signature.signature,
        compareSignature: (s: Buffer) => base.signature.compareSignature(s),
        compareDigest: (d: Buffer) => base.signature.compareDigest(d),
        verifySignature: (k: KeyObject) => k.equals(verifiedKey),
      }
    : base.signature;
  return {
    ...base,
    key,
    signature,
    timestamps: check.clock ? [clockTimestamp(check.clock)] : base.timestamps,
  };
}

/** Runs the library's Verifier; its errors become our reject codes. Throws SignatureRejected. */
export function verifyWithSigstore(check: SigstoreCheck): void {
  const trust: TrustMaterial = {
    certificateAuthorities: check.trust?.certificateAuthorities ?? [],
    timestampAuthorities: check.trust?.timestampAuthorities ?? [],
    tlogs: check.trust?.tlogs ?? [],
    ctlogs: check.trust?.ctlogs ?? [],
    publicKey: () => ({ publicKey: check.key!, validFor: () => true }),
  };
  const verifier = new Verifier(trust, {
    tlogThreshold: check.tlogThreshold,
    timestampThreshold: check.clock ? 1 : check.tlogThreshold,
    ctlogThreshold: check.ctlogThreshold,
  });
  try {
    verifier.verify(entityOf(check));
  } catch (err) {
    if (err instanceof VerificationError) {
      const code = SIGSTORE_CODES[err.code] ?? 'SIGNATURE_INVALID';
      // sigstore-js reports SCT failures as certificate errors; keep them apart.
      throw new SignatureRejected(code === 'CERT_CHAIN_INVALID' && /SCT/i.test(err.message) ? 'SCT_INVALID' : code, err.message);
    }
    throw new SignatureRejected('BUNDLE_INVALID', (err as Error).message);
  }
}
