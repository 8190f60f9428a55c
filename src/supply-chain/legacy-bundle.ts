import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { toDSSEBundle, toMessageSignatureBundle, type Bundle, type TransparencyLogEntry } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import type { Trust } from './trust.js';
import { reject } from './reject.js';

/**
 * A legacy cosign signature (a `.sig` or `.att` layer with its annotations) as
 * the Sigstore bundle it is equivalent to, so that @sigstore/verify checks it.
 * cosign makes the same translation itself when it verifies (pkg/cosign
 * verify.go, verifyInternal: the `dev.sigstore.cosign/bundle` annotation is a
 * Rekor entry whose SignedEntryTimestamp is the bundle's inclusion promise).
 */

/** cosign's `dev.sigstore.cosign/bundle` annotation (cosign pkg/cosign/bundle RekorBundle). */
interface RekorAnnotation {
  SignedEntryTimestamp: string;
  Payload: { body: string; integratedTime: number; logIndex: number; logID: string };
}

export interface RekorEntry {
  entry: TransparencyLogEntry;
  integratedTime: number;
  body: { kind?: string; apiVersion?: string; spec?: Record<string, unknown> };
}

function b64(value: string): Buffer {
  return Buffer.from(value.replace(/\s+/g, ''), 'base64');
}

/** Parses the Rekor annotation; the logged entry must be of one of `kinds` (hashedrekord for `.sig`, dsse/intoto for `.att`). */
export function parseRekorAnnotation(text: string, kinds: readonly string[]): RekorEntry {
  let a: RekorAnnotation;
  try {
    a = JSON.parse(text) as RekorAnnotation;
  } catch {
    reject('TLOG_INVALID', 'the Rekor bundle annotation is not JSON');
  }
  const p = a?.Payload;
  if (!p || typeof p.body !== 'string' || typeof p.integratedTime !== 'number' || typeof p.logIndex !== 'number' || typeof p.logID !== 'string' || typeof a.SignedEntryTimestamp !== 'string') {
    reject('TLOG_INVALID', 'the Rekor bundle is missing fields');
  }
  let body: RekorEntry['body'];
  try {
    body = JSON.parse(b64(p.body).toString('utf8')) as RekorEntry['body'];
  } catch {
    reject('TLOG_BODY_MISMATCH', 'the Rekor entry body is not JSON');
  }
  if (!kinds.includes(String(body?.kind)) || typeof body.apiVersion !== 'string') reject('TLOG_BODY_MISMATCH', `unsupported Rekor entry kind ${JSON.stringify(body?.kind)}`);
  return {
    integratedTime: p.integratedTime,
    body,
    entry: {
      logIndex: String(p.logIndex),
      logId: { keyId: Buffer.from(p.logID, 'hex') },
      kindVersion: { kind: body.kind!, version: body.apiVersion },
      integratedTime: String(p.integratedTime),
      inclusionPromise: { signedEntryTimestamp: b64(a.SignedEntryTimestamp) },
      inclusionProof: undefined,
      canonicalizedBody: b64(p.body),
    },
  };
}

// The keys or certificates a Rekor entry records (hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.1/0.0.2), as PEM text.
function loggedVerifiers(body: RekorEntry['body']): string[] {
  const spec = (body.spec ?? {}) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const pem = (v: unknown): string => {
    const once = typeof v === 'string' ? b64(v).toString('utf8') : '';
    return once.includes('-----BEGIN') ? once : b64(once).toString('utf8');
  };
  switch (body.kind) {
    case 'hashedrekord':
      return [pem(spec.signature?.publicKey?.content)];
    case 'dsse':
      return ((spec.signatures as { verifier?: string }[] | undefined) ?? []).map((s) => pem(s.verifier));
    case 'intoto':
      return spec.publicKey ? [pem(spec.publicKey)] : ((spec.content?.envelope?.signatures as { publicKey?: string }[] | undefined) ?? []).map((s) => pem(s.publicKey));
    default:
      return [];
  }
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

/** The logged entry must name this key or certificate (the library compares signature and content, not the signer). */
export function checkLoggedVerifier(rekor: RekorEntry, verifier: { key?: KeyObject; cert?: X509Certificate }): void {
  if (!loggedVerifiers(rekor.body).some((pem) => sameVerifier(pem, verifier))) reject('TLOG_BODY_MISMATCH', 'the Rekor entry logs a different key or certificate');
}

export interface LegacyMaterial {
  /** The signing certificate (keyless); absent for a key. */
  cert?: X509Certificate;
  rekor?: RekorEntry;
}

function withMaterial<B extends Bundle>(bundle: B, m: LegacyMaterial): B {
  if (m.rekor) bundle.verificationMaterial.tlogEntries.push(m.rekor.entry);
  return bundle;
}

/** A `.sig` layer: a message signature over the simple-signing payload. */
export function messageBundle(payload: Buffer, signature: Buffer, m: LegacyMaterial): Bundle {
  return withMaterial(
    toMessageSignatureBundle({ digest: createHash('sha256').update(payload).digest(), signature, ...(m.cert ? { certificate: m.cert.root.toDER(), certificateChain: true } : { keyHint: 'cosign-key' }) }),
    m,
  );
}

/** A `.att` layer: its DSSE envelope (the signature that verified first). */
export function envelopeBundle(payloadType: string, payload: Buffer, signature: Buffer, m: LegacyMaterial): Bundle {
  return withMaterial(
    toDSSEBundle({ artifact: payload, artifactType: payloadType, signature, ...(m.cert ? { certificate: m.cert.root.toDER(), certificateChain: true } : { keyHint: '' }) }),
    m,
  );
}

/**
 * Trust extended by the intermediates a legacy signature carries in its
 * `dev.sigstore.cosign/chain` annotation, as cosign uses them (untrusted
 * intermediates): only those that are signed, through other such
 * certificates, by a certificate the CA already trusts are added.
 */
export function withIntermediates(trust: Trust, chain: X509Certificate[]): Trust {
  if (chain.length === 0) return trust;
  const certificateAuthorities = trust.certificateAuthorities.map((ca) => {
    const accepted = [...ca.certChain];
    for (let grew = true; grew; ) {
      grew = false;
      for (const c of chain) {
        if (accepted.some((a) => a.equals(c))) continue;
        if (c.isCA && accepted.some((a) => c.issuer.equals(a.subject) && safeVerify(c, a))) {
          accepted.unshift(c);
          grew = true;
        }
      }
    }
    return { ...ca, certChain: accepted };
  });
  return { ...trust, certificateAuthorities };
}

function safeVerify(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.verify(issuer);
  } catch {
    return false;
  }
}
