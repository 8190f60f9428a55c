import type { X509Certificate } from '@sigstore/core';
import { PullbenchError } from '../errors.js';
import { reject } from './reject.js';

const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';

/** Certificate identity policy; exact values compare with ===, regexps match anywhere as cosign's do. */
export interface IdentityPolicy {
  identity?: string;
  identityRegexp?: string;
  issuer?: string;
  issuerRegexp?: string;
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


/** The OIDC issuer recorded by Fulcio (v2 extension, DER UTF8String; else the v1 raw string). */
export function certificateIssuer(cert: X509Certificate): string | undefined {
  const v2 = cert.extension(OID_ISSUER_V2);
  if (v2) return v2.valueObj.subs?.[0]?.value.toString('utf8') ?? v2.value.toString('utf8');
  return cert.extension(OID_ISSUER_V1)?.value.toString('utf8');
}

export function matchIdentity(cert: X509Certificate, policy: IdentityPolicy): { subject: string; issuer?: string } {
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

