import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { initializeCA, initializeCTLog, initializeTLog } from '@sigstore/mock';
import { beforeAll, describe, expect, it } from 'vitest';
import { MediaType } from '../../src/oci/media-types.js';
import { simpleSigningPayload } from '../../src/supply-chain/sign.js';
import { trustFromPem, type Trust } from '../../src/supply-chain/trust.js';
import { Annotation, SignatureRejected, verifyLegacySignature, type CosignSignatureLayer, type VerifyOptions } from '../../src/supply-chain/verify.js';

// Offline keyless flows with @sigstore/mock's CA (Fulcio), CT log and transparency log (Rekor).
const IDENTITY = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const HOUR = 3600_000;

const ecKeys = (): { publicKey: KeyObject; privateKey: KeyObject } => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (der: ArrayBufferView, label: string): string =>
  `-----BEGIN ${label}-----\n${Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;

interface World {
  trust: Trust;
  /** A keyless signature for DIGEST, made now, logged in Rekor. */
  signed(): Promise<{ layer: CosignSignatureLayer; signer: KeyObject }>;
}

async function world(): Promise<World> {
  const ctKeys = ecKeys();
  const caKeys = ecKeys();
  const tlogKeys = ecKeys();
  const trustWith = async (at: Date) => {
    const ctLog = await initializeCTLog(ctKeys, at);
    const ca = await initializeCA(caKeys, ctLog, at);
    const tlog = await initializeTLog('https://rekor.mock', tlogKeys, at);
    return { ca, tlog, ctLog };
  };
  const now = await trustWith(new Date());
  const trust = trustFromPem({
    caRoots: pem(now.ca.rootCertificate, 'CERTIFICATE'),
    rekorKeys: [pem(now.tlog.publicKey, 'PUBLIC KEY')],
    ctlogKeys: [pem(now.ctLog.publicKey, 'PUBLIC KEY')],
  });
  return {
    trust,
    async signed() {
      const { ca, tlog } = await trustWith(new Date());
      const signer = ecKeys();
      const certDer = await ca.issueCertificate({
        publicKey: signer.publicKey.export({ format: 'der', type: 'spki' }),
        subjectAltName: IDENTITY,
        extensions: [{ oid: '1.3.6.1.4.1.57264.1.8', value: ISSUER }],
      });
      const certPem = pem(certDer, 'CERTIFICATE');
      const payload = simpleSigningPayload('registry.example/acme/app', DIGEST);
      const signature = sign('sha256', payload, signer.privateKey).toString('base64');
      const entries = await tlog.log({
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: {
          data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') } },
          signature: { content: signature, publicKey: { content: Buffer.from(certPem).toString('base64') } },
        },
      });
      const entry = Object.values(entries)[0] as { body: string; integratedTime: number; logIndex: number; logID: string; verification: { signedEntryTimestamp: string } };
      const bundle = {
        SignedEntryTimestamp: entry.verification.signedEntryTimestamp,
        Payload: { body: entry.body, integratedTime: entry.integratedTime, logIndex: entry.logIndex, logID: entry.logID },
      };
      const layer: CosignSignatureLayer = {
        mediaType: MediaType.CosignSimpleSigning,
        payload,
        annotations: { [Annotation.signature]: signature, [Annotation.certificate]: certPem, [Annotation.bundle]: JSON.stringify(bundle) },
      };
      return { layer, signer: signer.privateKey };
    },
  };
}

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
