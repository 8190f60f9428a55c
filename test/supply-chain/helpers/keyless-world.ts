import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { dsse } from '@sigstore/core';
import { initializeCA, initializeCTLog, initializeTLog } from '@sigstore/mock';
import { MediaType } from '../../../src/oci/media-types.js';
import { simpleSigningPayload } from '../../../src/supply-chain/sign.js';
import { trustFromPem, type Trust } from '../../../src/supply-chain/trust.js';
import { Annotation, type CosignSignatureLayer } from '../../../src/supply-chain/verify.js';

// Offline keyless flows with @sigstore/mock's CA (Fulcio), CT log and transparency log (Rekor).
export const IDENTITY = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
export const ISSUER = 'https://token.actions.githubusercontent.com';
export const DIGEST = `sha256:${'ab'.repeat(32)}`;

const ecKeys = (): { publicKey: KeyObject; privateKey: KeyObject } => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (der: ArrayBufferView, label: string): string =>
  `-----BEGIN ${label}-----\n${Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;

export interface World {
  trust: Trust;
  /** The same trust as PEM texts, as a user would keep them in files. */
  pems: { caRoots: string; rekorKey: string; ctlogKey: string };
  /** A keyless signature for `digest` (default DIGEST) of `reference`, made now, logged in Rekor. */
  signed(reference?: string, digest?: string): Promise<{ layer: CosignSignatureLayer; signer: KeyObject }>;
  /** A keyless `.att` layer (DSSE envelope over `statement`), logged in Rekor as a dsse 0.0.1 entry. */
  attested(statement: Buffer): Promise<{ layer: CosignSignatureLayer; signer: KeyObject }>;
}

/** A mock Fulcio, CT log and Rekor (@sigstore/mock) for offline keyless flows. */
export async function world(): Promise<World> {
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
  const pems = { caRoots: pem(now.ca.rootCertificate, 'CERTIFICATE'), rekorKey: pem(now.tlog.publicKey, 'PUBLIC KEY'), ctlogKey: pem(now.ctLog.publicKey, 'PUBLIC KEY') };
  const trust = trustFromPem({ caRoots: pems.caRoots, rekorKeys: [pems.rekorKey], ctlogKeys: [pems.ctlogKey] });
  // A Fulcio certificate for a new key, a signature over `data`, and the Rekor entry `body` logs (cosign's bundle annotation).
  const signAndLog = async (data: Buffer, body: (signature: string, certPem: string) => object) => {
    const { ca, tlog } = await trustWith(new Date());
    const signer = ecKeys();
    const certDer = await ca.issueCertificate({
      publicKey: signer.publicKey.export({ format: 'der', type: 'spki' }),
      subjectAltName: IDENTITY,
      extensions: [{ oid: '1.3.6.1.4.1.57264.1.8', value: ISSUER }],
    });
    const certPem = pem(certDer, 'CERTIFICATE');
    const signature = sign('sha256', data, signer.privateKey).toString('base64');
    const entries = await tlog.log(body(signature, certPem));
    const entry = Object.values(entries)[0] as { body: string; integratedTime: number; logIndex: number; logID: string; verification: { signedEntryTimestamp: string } };
    const bundle = JSON.stringify({
      SignedEntryTimestamp: entry.verification.signedEntryTimestamp,
      Payload: { body: entry.body, integratedTime: entry.integratedTime, logIndex: entry.logIndex, logID: entry.logID },
    });
    return { certPem, signature, bundle, signer: signer.privateKey };
  };
  return {
    trust,
    pems,
    async signed(reference = 'registry.example/acme/app', digest = DIGEST) {
      const payload = simpleSigningPayload(reference, digest);
      const { certPem, signature, bundle, signer } = await signAndLog(payload, (signature, certPem) => ({
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: {
          data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') } },
          signature: { content: signature, publicKey: { content: Buffer.from(certPem).toString('base64') } },
        },
      }));
      const layer: CosignSignatureLayer = {
        mediaType: MediaType.CosignSimpleSigning,
        payload,
        annotations: { [Annotation.signature]: signature, [Annotation.certificate]: certPem, [Annotation.bundle]: bundle },
      };
      return { layer, signer };
    },
    async attested(statement: Buffer) {
      const type = 'application/vnd.in-toto+json';
      const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
      const { certPem, signature, bundle, signer } = await signAndLog(dsse.preAuthEncoding(type, statement), (signature, certPem) => ({
        apiVersion: '0.0.1',
        kind: 'dsse',
        spec: {
          payloadHash: { algorithm: 'sha256', value: sha(statement) },
          signatures: [{ signature, verifier: Buffer.from(certPem).toString('base64') }],
        },
      }));
      const envelope = Buffer.from(JSON.stringify({ payloadType: type, payload: statement.toString('base64'), signatures: [{ keyid: '', sig: signature }] }));
      const layer: CosignSignatureLayer = {
        mediaType: 'application/vnd.dsse.envelope.v1+json',
        payload: envelope,
        annotations: { predicateType: 'https://cosign.sigstore.dev/attestation/vuln/v1', [Annotation.signature]: '', [Annotation.certificate]: certPem, [Annotation.bundle]: bundle },
      };
      return { layer, signer };
    },
  };
}

