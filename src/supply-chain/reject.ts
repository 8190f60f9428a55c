/** Why one candidate signature or attestation was not accepted; each has its own code. */
export type RejectCode =
  | 'NOT_A_SIGNATURE'
  | 'NOT_AN_ATTESTATION'
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
  | 'KEY_MISMATCH'
  | 'PREDICATE_TYPE_MISMATCH';

export class SignatureRejected extends Error {
  override readonly name = 'SignatureRejected';
  constructor(
    readonly code: RejectCode,
    message: string,
  ) {
    super(message);
  }
}

export function reject(code: RejectCode, message: string): never {
  throw new SignatureRejected(code, message);
}
