import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { readPublicKey } from '../../src/supply-chain/keys.js';
import { trustFromPem, trustFromTrustedRootJson } from '../../src/supply-chain/trust.js';
import {
  digestManifest,
  parseDirSignature,
  repositoryOf,
  verifyBundleSignature,
  verifyCandidates,
  type Candidate,
  type VerificationOutcome,
  type VerifyOptions,
} from '../../src/supply-chain/verify.js';
import { CI, productionRekorPem, readDirImage, VECTORS } from './helpers/vectors.js';

const cosignPub = readPublicKey(readFileSync(join(CI, 'cosign.pub'), 'utf8'));
const cosign2Pub = readPublicKey(readFileSync(join(CI, 'cosign2.pub'), 'utf8'));
const rekor = productionRekorPem();
const trustedRoot = trustFromTrustedRootJson(readFileSync(join(VECTORS, 'cosign/trusted_root_pgi.json'), 'utf8'));

/** Verifies a dir: image from files; 'valid' or the first rejection / error code. */
function decide(name: string, opts: VerifyOptions): { decision: string; outcome?: VerificationOutcome } {
  const image = readDirImage(name);
  if (!image.manifest) return { decision: 'NO_MANIFEST' };
  let digest: string;
  try {
    digest = digestManifest(image.manifest);
  } catch (err) {
    return { decision: isPullbenchError(err) ? err.code : String(err) };
  }
  const candidates: Candidate[] = image.signatures.map((bytes, i) => {
    const layer = parseDirSignature(bytes) ?? { mediaType: 'unknown', payload: bytes, annotations: {} };
    return { kind: 'legacy', source: `signature-${i + 1}`, layer };
  });
  const outcome = verifyCandidates(candidates, digest, image.manifest, opts);
  return { decision: outcome.verified.length > 0 ? 'valid' : (outcome.rejected[0]?.code ?? 'NO_SIGNATURES'), outcome };
}

const keyed = { key: cosignPub, ignoreTlog: true };
const fulcioTrust = trustFromPem({ caRoots: readFileSync(join(CI, 'fulcio_v1.crt.pem'), 'utf8'), rekorKeys: [rekor] });
const pkiTrust = trustFromPem({ caRoots: readFileSync(join(CI, 'pki_root_crts.pem'), 'utf8') });
const mitr = { identity: 'mitr@redhat.com', issuer: 'https://github.com/login/oauth' };

describe('the real cosign signatures in shared/vectors (containers-image dir: layouts)', () => {
  it.each([
    ['dir-img-cosign-valid', keyed, 'valid'],
    ['dir-img-cosign-valid-2', keyed, 'valid'],
    ['dir-img-cosign-valid-with-tag', keyed, 'valid'],
    ['dir-img-cosign-mixed', keyed, 'valid'],
    ['dir-img-cosign-key-rekor-valid', { key: cosign2Pub, trust: trustFromPem({ rekorKeys: [rekor] }) }, 'valid'],
    ['dir-img-cosign-fulcio-rekor-valid', { identity: mitr, trust: fulcioTrust }, 'valid'],
    ['dir-img-cosign-pki-valid', { identity: { identity: 'qiwan@redhat.com' }, trust: pkiTrust, ignoreTlog: true }, 'valid'],
    ['dir-img-cosign-modified-manifest', keyed, 'DIGEST_MISMATCH'],
    ['dir-img-cosign-manifest-digest-error', keyed, 'INVALID_MANIFEST'],
    ['dir-img-cosign-other-attachment', keyed, 'NOT_A_SIGNATURE'],
    ['dir-img-cosign-no-manifest', keyed, 'NO_MANIFEST'],
  ].map(([name, opts, expected]) => ({ name, opts, expected })) as { name: string; opts: VerifyOptions; expected: string }[])('$name -> $expected', ({ name, opts, expected }) => {
    expect(decide(name, opts).decision).toBe(expected);
  });

  it('rejects the signature by an unknown key (SIGNATURE_INVALID)', () => {
    const layer = parseDirSignature(readFileSync(join(CI, 'unknown-cosign-key.signature')))!;
    const manifest = readDirImage('dir-img-cosign-valid').manifest!;
    const outcome = verifyCandidates([{ kind: 'legacy', source: 'unknown', layer }], digestManifest(manifest), manifest, keyed);
    expect(outcome.rejected.map((r) => r.code)).toEqual(['SIGNATURE_INVALID']);
  });

  it('keeps the reason for the bad signature when a good one follows (mixed)', () => {
    const { outcome } = decide('dir-img-cosign-mixed', keyed);
    expect(outcome?.rejected.map((r) => [r.source, r.code])).toEqual([['signature-1', 'SIGNATURE_INVALID']]);
    expect(outcome?.verified.map((v) => v.source)).toEqual(['signature-2']);
  });

  it('requires a Rekor entry by default, as cosign does (TLOG_MISSING without --insecure-ignore-tlog)', () => {
    expect(decide('dir-img-cosign-valid', { key: cosignPub }).decision).toBe('TLOG_MISSING');
  });

  it('rejects the key-signed Rekor case with the wrong key or without the Rekor key', () => {
    expect(decide('dir-img-cosign-key-rekor-valid', { key: cosignPub, trust: trustFromPem({ rekorKeys: [rekor] }) }).decision).toBe('SIGNATURE_INVALID');
    expect(decide('dir-img-cosign-key-rekor-valid', { key: cosign2Pub, trust: trustFromPem({}) }).decision).toBe('TLOG_INVALID');
  });

  it('checks the repository in the payload only when asked (cosign does not)', () => {
    expect(decide('dir-img-cosign-valid', { ...keyed, repository: 'docker.io/testing/manifest' }).decision).toBe('REPOSITORY_MISMATCH');
    expect(decide('dir-img-cosign-valid', { ...keyed, repository: '192.168.64.2:5000/cosign-signed-single-sample' }).decision).toBe('valid');
    expect(decide('dir-img-cosign-valid-with-tag', { ...keyed, repository: '192.168.64.2:5000/skopeo-signed' }).decision).toBe('valid');
    expect(repositoryOf('index.docker.io/library/nginx:1.27')).toBe(repositoryOf('nginx'));
  });

  it('requires annotations given with -a', () => {
    expect(decide('dir-img-cosign-valid-with-tag', { ...keyed, annotations: { creator: 'containers/image 5.21.2-dev' } }).decision).toBe('valid');
    expect(decide('dir-img-cosign-valid-with-tag', { ...keyed, annotations: { creator: 'someone else' } }).decision).toBe('ANNOTATION_MISMATCH');
  });

  describe('keyless (Fulcio + Rekor)', () => {
    it('verifies against the public-good trusted root, including the embedded SCT', () => {
      const { decision, outcome } = decide('dir-img-cosign-fulcio-rekor-valid', { identity: mitr, trust: trustedRoot });
      expect(decision).toBe('valid');
      expect(outcome?.verified[0]?.checks.certificate).toEqual({ subject: 'mitr@redhat.com', issuer: 'https://github.com/login/oauth', sct: 'verified' });
    });

    it.each([
      [{ identity: 'mitr@redhat.co', issuer: mitr.issuer }, 'IDENTITY_MISMATCH'],
      [{ identity: 'itr@redhat.com', issuer: mitr.issuer }, 'IDENTITY_MISMATCH'],
      [{ identityRegexp: 'mitr@redhat', issuer: mitr.issuer }, 'valid'],
      [{ identityRegexp: '^mitr@redhat$', issuer: mitr.issuer }, 'IDENTITY_MISMATCH'],
      [{ identityRegexp: '^someone@redhat\\.com$', issuer: mitr.issuer }, 'IDENTITY_MISMATCH'],
      [{ identityRegexp: '.*@redhat\\.com', issuer: mitr.issuer }, 'valid'],
      [{ identity: mitr.identity, issuer: 'https://github.com/login' }, 'ISSUER_MISMATCH'],
      [{ identity: mitr.identity, issuerRegexp: 'https://github\\.com/.*' }, 'valid'],
      [{ identity: mitr.identity, issuerRegexp: 'github' }, 'valid'],
      [{ identity: mitr.identity, issuerRegexp: '^github$' }, 'ISSUER_MISMATCH'],
    ])('matches identities exactly, and regexps as Go\'s MatchString (anchored only by ^...$): %j -> %s', (identity, expected) => {
      expect(decide('dir-img-cosign-fulcio-rekor-valid', { identity, trust: fulcioTrust }).decision).toBe(expected);
    });

    it('rejects a chain to another root (CERT_CHAIN_INVALID)', () => {
      const wrong = trustFromPem({ caRoots: readFileSync(join(CI, 'pki_root_crts.pem'), 'utf8'), rekorKeys: [rekor] });
      expect(decide('dir-img-cosign-fulcio-rekor-valid', { identity: mitr, trust: wrong }).decision).toBe('CERT_CHAIN_INVALID');
    });

    it('rejects the 10-minute certificate without a timestamp (CERT_EXPIRED)', () => {
      expect(decide('dir-img-cosign-fulcio-rekor-valid', { identity: mitr, trust: fulcioTrust, ignoreTlog: true }).decision).toBe('CERT_EXPIRED');
    });

    it('says NO_CERTIFICATE for a keyless check of a key-signed image', () => {
      expect(decide('dir-img-cosign-valid', { identity: mitr, trust: fulcioTrust, ignoreTlog: true }).decision).toBe('NO_CERTIFICATE');
    });
  });
});

describe('the cosign 3 Sigstore bundle (DSSE attestation) with the public-good trusted root', () => {
  const bundle = JSON.parse(readFileSync(join(VECTORS, 'cosign/oci-attestation.sigstore.json'), 'utf8')) as unknown;
  const digest = 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4';
  const cody = { identity: 'cody@soyland.com', issuer: 'https://github.com/login/oauth' };
  const code = (fn: () => unknown): string => {
    try {
      fn();
      return 'valid';
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
  };

  it('verifies, with its tlog entry, SCT and exact identity', () => {
    const v = verifyBundleSignature(bundle, digest, undefined, { identity: cody, trust: trustedRoot });
    expect(v.checks).toMatchObject({ tlog: 'verified', certificate: { subject: 'cody@soyland.com', sct: 'verified' } });
  });

  it('does not inherit sigstore-js unanchored matching: a substring identity is rejected', () => {
    expect(code(() => verifyBundleSignature(bundle, digest, undefined, { identity: { identity: 'soyland.com', issuer: cody.issuer }, trust: trustedRoot }))).toBe('IDENTITY_MISMATCH');
    expect(code(() => verifyBundleSignature(bundle, digest, undefined, { identity: { identityRegexp: '^soyland$', issuer: cody.issuer }, trust: trustedRoot }))).toBe('IDENTITY_MISMATCH');
  });

  it('is an attestation, not an image signature, where only cosign sign/v1 statements count (NOT_A_SIGNATURE)', () => {
    expect(code(() => verifyBundleSignature(bundle, digest, undefined, { identity: cody, trust: trustedRoot, predicateTypes: ['https://sigstore.dev/cosign/sign/v1'] }))).toBe('NOT_A_SIGNATURE');
  });

  it('rejects another image digest (DIGEST_MISMATCH) and another trust root (CERT_CHAIN_INVALID)', () => {
    expect(code(() => verifyBundleSignature(bundle, `sha256:${'0'.repeat(64)}`, undefined, { identity: cody, trust: trustedRoot }))).toBe('DIGEST_MISMATCH');
    const other = trustFromPem({ caRoots: readFileSync(join(CI, 'pki_root_crts.pem'), 'utf8') });
    expect(code(() => verifyBundleSignature(bundle, digest, undefined, { identity: cody, trust: { ...trustedRoot, certificateAuthorities: other.certificateAuthorities } }))).toBe('CERT_CHAIN_INVALID');
  });
});
