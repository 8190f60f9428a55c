import { sign } from 'node:crypto';
import { dsse } from '@sigstore/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Annotation, SignatureRejected, verifyLegacySignature, type CosignSignatureLayer, type VerifyOptions } from '../../src/supply-chain/verify.js';
import { verifyLegacyAttestation } from '../../src/supply-chain/attestation.js';
import { DIGEST, IDENTITY, ISSUER, world, type World } from './helpers/keyless-world.js';

// Offline keyless flows with @sigstore/mock's CA (Fulcio), CT log and transparency log (Rekor).
const HOUR = 3600_000;

function codeOf(layer: CosignSignatureLayer, opts: VerifyOptions): string {
  try {
    verifyLegacySignature(layer, DIGEST, opts);
    return 'valid';
  } catch (err) {
    if (err instanceof SignatureRejected) return err.code;
    throw err;
  }
}

describe('keyless signatures against a mock Fulcio, CT log and Rekor (offline)', () => {
  let w: World;
  let opts: VerifyOptions;
  beforeAll(async () => {
    w = await world();
    opts = { identity: { identity: IDENTITY, issuer: ISSUER }, trust: w.trust };
  });

  it('accepts a valid keyless signature (chain, SCT, SET, identity)', async () => {
    const { layer } = await w.signed();
    const v = verifyLegacySignature(layer, DIGEST, opts);
    expect(v.checks).toEqual({ claims: true, tlog: 'verified', certificate: { subject: IDENTITY, issuer: ISSUER, sct: 'verified' } });
  });

  it('rejects a tampered payload: SIGNATURE_INVALID', async () => {
    const { layer } = await w.signed();
    const tampered = { ...layer, payload: Buffer.from(layer.payload.toString().replace('acme/app', 'acme/evil')) };
    expect(codeOf(tampered, opts)).toBe('SIGNATURE_INVALID');
  });

  it('rejects a swapped signature (valid over the payload, but not the one logged in Rekor): TLOG_BODY_MISMATCH', async () => {
    const { layer, signer } = await w.signed();
    const swapped = { ...layer, annotations: { ...layer.annotations, [Annotation.signature]: sign('sha256', layer.payload, signer).toString('base64') } };
    expect(codeOf(swapped, opts)).toBe('TLOG_BODY_MISMATCH');
  });

  it('rejects another identity, and a mere prefix of it: IDENTITY_MISMATCH', async () => {
    const { layer } = await w.signed();
    expect(codeOf(layer, { ...opts, identity: { identity: 'https://github.com/acme/other/.github/workflows/release.yml@refs/heads/main', issuer: ISSUER } })).toBe('IDENTITY_MISMATCH');
    expect(codeOf(layer, { ...opts, identity: { identityRegexp: '^https://github\\.com/acme/$', issuer: ISSUER } })).toBe('IDENTITY_MISMATCH');
    expect(codeOf(layer, { ...opts, identity: { identityRegexp: 'github\\.com/acme/', issuer: ISSUER } })).toBe('valid');
    expect(codeOf(layer, { ...opts, identity: { identityRegexp: 'https://github\\.com/acme/.*', issuer: ISSUER } })).toBe('valid');
    expect(codeOf(layer, { ...opts, identity: { identity: IDENTITY, issuer: 'https://accounts.google.com' } })).toBe('ISSUER_MISMATCH');
  });

  it('rejects an expired certificate without a timestamp (CERT_EXPIRED), accepts it with the Rekor timestamp', async () => {
    // Fulcio certificates live 10 minutes; verify two hours later.
    const { layer } = await w.signed();
    const later = { ...opts, now: () => new Date(Date.now() + 2 * HOUR) };
    expect(codeOf(layer, { ...later, ignoreTlog: true })).toBe('CERT_EXPIRED');
    expect(codeOf(layer, later)).toBe('valid');
  });

  it('rejects a chain to another root: CERT_CHAIN_INVALID', async () => {
    const { layer } = await w.signed();
    const other = await world();
    expect(codeOf(layer, { ...opts, trust: { ...w.trust, certificateAuthorities: other.trust.certificateAuthorities } })).toBe('CERT_CHAIN_INVALID');
  });

  it('rejects a SET from an untrusted Rekor (TLOG_INVALID) and an SCT from an untrusted CT log (SCT_INVALID)', async () => {
    const { layer } = await w.signed();
    const other = await world();
    expect(codeOf(layer, { ...opts, trust: { ...w.trust, tlogs: other.trust.tlogs } })).toBe('TLOG_INVALID');
    expect(codeOf(layer, { ...opts, trust: { ...w.trust, ctlogs: other.trust.ctlogs } })).toBe('SCT_INVALID');
  });

  it('rejects a signature without a certificate in keyless mode: NO_CERTIFICATE', async () => {
    const { layer } = await w.signed();
    const { [Annotation.certificate]: _cert, ...rest } = layer.annotations;
    expect(codeOf({ ...layer, annotations: rest }, opts)).toBe('NO_CERTIFICATE');
  });
});

describe('keyless attestations (.att layer, Rekor dsse entry) against the mock Fulcio, CT log and Rekor', () => {
  it('verifies the envelope, chain, SCT and SET, and rejects a swapped envelope signature or another identity', async () => {
    const w = await world();
    const opts: VerifyOptions = { identity: { identity: IDENTITY, issuer: ISSUER }, trust: w.trust };
    const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1', subject: [{ name: 'registry.example/acme/app', digest: { sha256: DIGEST.slice(7) } }], predicateType: 'https://cosign.sigstore.dev/attestation/vuln/v1', predicate: {} }));
    const { layer, signer } = await w.attested(statement);
    const v = verifyLegacyAttestation(layer, DIGEST, opts);
    expect(v.checks).toEqual({ claims: true, tlog: 'verified', certificate: { subject: IDENTITY, issuer: ISSUER, sct: 'verified' } });
    const attCode = (l: CosignSignatureLayer, o: VerifyOptions): string => {
      try {
        verifyLegacyAttestation(l, DIGEST, o);
        return 'valid';
      } catch (err) {
        if (err instanceof SignatureRejected) return err.code;
        throw err;
      }
    };
    const env = JSON.parse(layer.payload.toString()) as { signatures: { sig: string }[] };
    env.signatures[0]!.sig = sign('sha256', dsse.preAuthEncoding('application/vnd.in-toto+json', statement), signer).toString('base64');
    expect(attCode({ ...layer, payload: Buffer.from(JSON.stringify(env)) }, opts)).toBe('TLOG_BODY_MISMATCH');
    expect(attCode(layer, { ...opts, identity: { identity: 'https://github.com/acme/other', issuer: ISSUER } })).toBe('IDENTITY_MISMATCH');
    expect(attCode(layer, { ...opts, trust: { ...w.trust, tlogs: (await world()).trust.tlogs } })).toBe('TLOG_INVALID');
  });
});
