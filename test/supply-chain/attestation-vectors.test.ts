import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envelopeClaims, verifyAttestationCandidates } from '../../src/supply-chain/attestation.js';
import { SignatureRejected } from '../../src/supply-chain/reject.js';
import { predicateTypeUri } from '../../src/supply-chain/statement.js';
import { trustFromTrustedRootJson } from '../../src/supply-chain/trust.js';
import { VECTORS } from './helpers/vectors.js';

// Real attestations from cosign's own tests (test/fixtures/attestations/README.md), decided as those tests decide.
const FIXTURES = new URL('../fixtures/attestations/', import.meta.url).pathname;
const fixture = (path: string): Buffer => readFileSync(join(FIXTURES, path));

function claims(envelope: Buffer, digest: string): string {
  try {
    envelopeClaims(envelope, digest);
    return 'ok';
  } catch (err) {
    if (err instanceof SignatureRejected) return err.code;
    throw err;
  }
}

describe("cosign's IntotoSubjectClaimVerifier table (pkg/cosign/verifiers_test.go)", () => {
  const valid = 'sha256:6c6fd6a4115c6e998ff357cd914680931bb9a6c1a7cd5f5cb2f5e1c0932ab6ed';
  const invalid = 'sha256:6c6fd6a4115c6e998ff357cd914680931bb9a6c1a7cd5f5cb2f5e1c0932xxxxx';
  const stringPredicate = 'sha256:9925d3017788558fa8f27e8bb160b791e56202b60c91fbcc5c867de3175986c8';
  it.each([
    ['{"payloadType":"notinttoto"}', valid, 'fail'],
    ['{"payloadType":"notmarshallable}', valid, 'fail'],
    ['cosign-verifiers/invalid-bad-encoding.json', valid, 'fail'],
    ['cosign-verifiers/valid-intoto-statement.json', 'sha256:', 'fail'],
    ['cosign-verifiers/valid-intoto-statement.json', invalid, 'fail'],
    ['cosign-verifiers/missing-subject.json', valid, 'fail'],
    ['cosign-verifiers/valid-intoto-statement.json', valid, 'ok'],
    ['cosign-verifiers/string-predicate.json', stringPredicate, 'ok'],
    ['cosign-verifiers/null-subject.json', valid, 'fail'],
  ])('%s for %s: %s', (source, digest, expected) => {
    const envelope = source.startsWith('{') ? Buffer.from(source) : fixture(source);
    const got = claims(envelope, digest);
    expect(got === 'ok' ? 'ok' : 'fail').toBe(expected);
    if (got !== 'ok') expect(['PAYLOAD_INVALID', 'DIGEST_MISMATCH']).toContain(got);
  });

  it('names the reason: a subject for another image is DIGEST_MISMATCH, a null subject PAYLOAD_INVALID', () => {
    expect(claims(fixture('cosign-verifiers/valid-intoto-statement.json'), invalid)).toBe('DIGEST_MISMATCH');
    expect(claims(fixture('cosign-verifiers/null-subject.json'), valid)).toBe('PAYLOAD_INVALID');
  });
});

describe("cosign's AttestationToPayloadJSON vectors (pkg/policy/testdata/valid)", () => {
  it.each([
    ['custom', 'sha256:6c6fd6a4115c6e998ff357cd914680931bb9a6c1a7cd5f5cb2f5e1c0932ab6ed', 'https://cosign.sigstore.dev/attestation/v1'],
    ['vuln', 'sha256:3c19aa980a9c5709a2c96c2d0779febf6e5e453b92b172ce84cb85fdaf695373', 'https://cosign.sigstore.dev/attestation/vuln/v1'],
  ])('--type %s reads the statement of predicate type %s', (type, digest, uri) => {
    const statement = envelopeClaims(fixture(`cosign-policy/${type}`), digest);
    expect(predicateTypeUri(type)).toBe(uri);
    expect(statement.predicateType).toBe(uri);
  });
});

describe('the cosign 3 attestation bundle (pkg/cosign/testdata/oci-attestation.sigstore.json), keyless, offline', () => {
  const bundle = JSON.parse(readFileSync(join(VECTORS, 'cosign/oci-attestation.sigstore.json'), 'utf8')) as unknown;
  const trust = trustFromTrustedRootJson(readFileSync(join(VECTORS, 'cosign/trusted_root_pgi.json'), 'utf8'));
  // The subject cosign's TestGetBundles_Valid attaches it to: go-containerregistry's empty.Image.
  const digest = 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4';
  const identity = { identity: 'cody@soyland.com', issuer: 'https://github.com/login/oauth' };
  const candidates = [{ kind: 'bundle' as const, source: 'referrer', bundle }];

  it('verifies as a custom attestation and returns its statement', () => {
    const out = verifyAttestationCandidates(candidates, digest, { identity, trust, type: 'custom' });
    expect(out.decision).toBe('verified');
    expect(out.attestations[0]!.predicateType).toBe('https://cosign.sigstore.dev/attestation/v1');
    expect(out.attestations[0]!.checks.certificate).toMatchObject({ subject: 'cody@soyland.com', sct: 'verified' });
  });

  it('finds no attestation of another type (no-matching-predicate), nor for another identity or image', () => {
    expect(verifyAttestationCandidates(candidates, digest, { identity, trust, type: 'vuln' }).decision).toBe('no-matching-predicate');
    const other = verifyAttestationCandidates(candidates, digest, { identity: { ...identity, identity: 'someone@soyland.com' }, trust });
    expect([other.decision, other.rejected.map((r) => r.code)]).toEqual(['no-matching-attestation', ['IDENTITY_MISMATCH']]);
    const elsewhere = verifyAttestationCandidates(candidates, `sha256:${'0'.repeat(64)}`, { identity, trust });
    expect(elsewhere.rejected.map((r) => r.code)).toEqual(['DIGEST_MISMATCH']);
  });
});
