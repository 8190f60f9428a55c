import type { KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/oci/client.js';
import { MediaType, type ImageManifest } from '../../src/oci/media-types.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { attestationTag, attestImage, DSSE_ENVELOPE_MEDIA_TYPE, readAttestations, verifyAttestations } from '../../src/supply-chain/attestation.js';
import { generateCosignKeyPair, readPrivateKey, readPublicKey } from '../../src/supply-chain/keys.js';
import { VerificationCache } from '../../src/supply-chain/cache.js';
import { signImage } from '../../src/supply-chain/sign.js';
import { Annotation } from '../../src/supply-chain/verify.js';
import { makeTempDir } from '../../src/util/temp.js';
import { exitOf } from './helpers/cli.js';

let registry: StartedRegistry;
let client: RegistryClient;
let priv: KeyObject;
let pub: KeyObject;
let otherPub: KeyObject;

const VULN = Buffer.from(
  JSON.stringify({
    scanner: { uri: 'pkg:github/aquasecurity/trivy@0.50.0', version: '0.50.0', result: { Results: [{ Vulnerabilities: [{ VulnerabilityID: 'CVE-2024-0001', Severity: 'HIGH' }] }] } },
    metadata: { scanStartedOn: '2026-12-01T10:00:00Z', scanFinishedOn: '2026-12-01T10:01:00Z' },
  }),
);

beforeAll(async () => {
  registry = await embeddedRegistry.start({ port: 0, storage: 'memory' });
  client = new RegistryClient({ baseUrl: registry.url });
  const pair = await generateCosignKeyPair('');
  priv = await readPrivateKey(pair.privatePem, '');
  pub = readPublicKey(pair.publicPem);
  otherPub = readPublicKey((await generateCosignKeyPair('')).publicPem);
  for (const tag of ['legacy', 'bundle', 'both', 'none']) await pushSynthImage(client, 'app', tag, { layers: [512], seed: tag });
});

afterAll(async () => {
  await registry?.[Symbol.asyncDispose]();
});

describe('attest in the .att layout (cosign --new-bundle-format=false)', () => {
  it('appends a DSSE envelope layer with the predicateType and an empty signature annotation', async () => {
    const image = `${registry.host}/app:legacy`;
    const r = await attestImage(client, image, { key: priv, type: 'vuln', predicate: VULN, format: 'legacy' });
    await attestImage(client, image, { key: priv, type: 'spdxjson', predicate: Buffer.from('{"spdxVersion":"SPDX-2.3"}'), format: 'legacy' });
    expect(r.locations).toEqual([attestationTag(r.digest)]);
    const att = JSON.parse((await client.getManifest('app', attestationTag(r.digest))).bytes.toString()) as ImageManifest;
    expect(att.layers.map((l) => l.mediaType)).toEqual([DSSE_ENVELOPE_MEDIA_TYPE, DSSE_ENVELOPE_MEDIA_TYPE]);
    expect(att.layers[0]!.annotations).toEqual({ predicateType: 'https://cosign.sigstore.dev/attestation/vuln/v1', [Annotation.signature]: '' });
    const [candidate] = await readAttestations(client, 'app', r.digest);
    const envelope = JSON.parse((candidate as { layer: { payload: Buffer } }).layer.payload.toString()) as { payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] };
    expect(Object.keys(envelope)).toEqual(['payloadType', 'payload', 'signatures']);
    expect(envelope.payloadType).toBe('application/vnd.in-toto+json');
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as Record<string, unknown>;
    expect(Object.keys(statement)).toEqual(['_type', 'subject', 'predicateType', 'predicate']);
    expect(statement.subject).toEqual([{ name: `${registry.host}/app`, digest: { sha256: r.digest.slice(7) } }]);
  });

  it('verifies with the key and returns the statements of the requested type only', async () => {
    const image = `${registry.host}/app:legacy`;
    const v = await verifyAttestations(image, { key: pub, ignoreTlog: true, type: 'vuln' });
    expect(v.decision).toBe('verified');
    expect(v.attestations).toHaveLength(1);
    expect(v.attestations[0]!.predicateType).toBe('https://cosign.sigstore.dev/attestation/vuln/v1');
    expect((v.attestations[0]!.predicate as { scanner: { db: unknown } }).scanner.db).toEqual({ uri: '', version: '' });
    expect(v.predicateTypes.sort()).toEqual(['https://cosign.sigstore.dev/attestation/vuln/v1', 'https://spdx.dev/Document']);
  });

  it('says no-matching-predicate when none is of --type (cosign defaults to custom), and no-matching-attestation for another key', async () => {
    const image = `${registry.host}/app:legacy`;
    expect((await verifyAttestations(image, { key: pub, ignoreTlog: true })).decision).toBe('no-matching-predicate');
    const other = await verifyAttestations(image, { key: otherPub, ignoreTlog: true, type: 'vuln' });
    expect(other.decision).toBe('no-matching-attestation');
    expect(other.rejected.map((r) => r.code)).toEqual(['SIGNATURE_INVALID', 'SIGNATURE_INVALID']);
  });

  it('requires a Rekor entry unless told to ignore the tlog: TLOG_MISSING', async () => {
    const v = await verifyAttestations(`${registry.host}/app:legacy`, { key: pub, type: 'vuln' });
    expect(v.rejected.map((r) => r.code)).toEqual(['TLOG_MISSING', 'TLOG_MISSING']);
  });
});

describe('the verification cache for attestations (policies)', () => {
  it('fetches and verifies once, then answers from the cache', async () => {
    const cache = new VerificationCache({ client });
    const image = `${registry.host}/app:legacy`;
    for (let i = 0; i < 5; i++) expect((await cache.attestations(image, 'key|vuln', 'none', { key: pub, ignoreTlog: true, type: 'vuln' })).decision).toBe('verified');
    expect(cache.stats).toMatchObject({ signatureFetches: 1, verifications: 1, hits: 4 });
    expect((await cache.attestations(image, 'other|vuln', 'none', { key: otherPub, ignoreTlog: true, type: 'vuln' })).decision).toBe('no-matching-attestation');
    expect(cache.stats).toMatchObject({ signatureFetches: 1, verifications: 2 });
  });
});

describe('attest as a Sigstore bundle referrer (cosign 3)', () => {
  it('writes a referrer with the bundle layer and the predicate type annotation, and verifies it', async () => {
    const image = `${registry.host}/app:bundle`;
    const r = await attestImage(client, image, { key: priv, type: 'https://example.com/custom/v1', predicate: Buffer.from('{"b":1,"a":{"d":2,"c":3}}') });
    const referrer = JSON.parse((await client.getManifest('app', r.locations[0]!)).bytes.toString()) as ImageManifest & { artifactType: string; subject: { digest: string }; annotations: Record<string, string> };
    expect(referrer.artifactType).toBe(MediaType.SigstoreBundleV03);
    expect(referrer.subject.digest).toBe(r.digest);
    expect(referrer.annotations['dev.sigstore.bundle.predicateType']).toBe('https://example.com/custom/v1');
    const v = await verifyAttestations(image, { key: pub, ignoreTlog: true, type: 'https://example.com/custom/v1' });
    expect(v.decision).toBe('verified');
    expect(v.attestations[0]!.kind).toBe('bundle');
    expect(JSON.stringify(v.attestations[0]!.predicate)).toBe('{"a":{"c":3,"d":2},"b":1}');
  });

  it('does not count a bundle image signature (sign/v1) as an attestation', async () => {
    const image = `${registry.host}/app:none`;
    await signImage(client, image, { key: priv, format: 'bundle' });
    const v = await verifyAttestations(image, { key: pub, ignoreTlog: true });
    expect(v.decision).toBe('no-attestations');
    expect(v.rejected).toEqual([]);
  });

  it('writes both layouts with --format both; each verifies', async () => {
    const image = `${registry.host}/app:both`;
    const r = await attestImage(client, image, { key: priv, type: 'custom', predicate: Buffer.from('hello'), format: 'both', now: () => new Date('2026-12-06T20:00:00.123Z') });
    expect(r.locations).toHaveLength(2);
    const v = await verifyAttestations(image, { key: pub, ignoreTlog: true });
    expect(v.attestations.map((a) => a.kind).sort()).toEqual(['bundle', 'legacy']);
    expect(v.attestations[0]!.predicate).toEqual({ Data: 'hello', Timestamp: '2026-12-06T20:00:00Z' });
  });
});

describe('pullbench attest / verify-attestation (cosign flags and exit codes)', () => {
  it('attests, prints the statements (0), no match for --type or another key (1), missing tag (11)', async () => {
    const dir = await makeTempDir();
    try {
      const pair = await generateCosignKeyPair('');
      const other = await generateCosignKeyPair('');
      await writeFile(join(dir.path, 'cosign.key'), pair.privatePem);
      await writeFile(join(dir.path, 'cosign.pub'), pair.publicPem);
      await writeFile(join(dir.path, 'other.pub'), other.publicPem);
      await writeFile(join(dir.path, 'vuln.json'), VULN);
      await pushSynthImage(client, 'cli', 'v1', { layers: [512], seed: 'cli-att' });
      const image = `${registry.host}/cli:v1`;
      const attested = await exitOf(['attest', image, '--key', join(dir.path, 'cosign.key'), '--type', 'vuln', '--predicate', join(dir.path, 'vuln.json'), '--format', 'both', '--json']);
      expect(attested.code).toBe(0);
      expect((JSON.parse(attested.stdout) as { locations: string[] }).locations).toHaveLength(2);
      const ok = await exitOf(['verify-attestation', image, '--key', join(dir.path, 'cosign.pub'), '--type', 'vuln', '--insecure-ignore-tlog']);
      expect(ok.code).toBe(0);
      const statements = ok.stdout.trim().split('\n').map((l) => JSON.parse(l) as { predicateType: string; subject: { digest: { sha256: string } }[] });
      expect(statements.map((s) => s.predicateType)).toEqual(['https://cosign.sigstore.dev/attestation/vuln/v1', 'https://cosign.sigstore.dev/attestation/vuln/v1']);
      expect(ok.stderr).toContain('The cosign claims were validated');
      const wrongType = await exitOf(['verify-attestation', image, '--key', join(dir.path, 'cosign.pub'), '--insecure-ignore-tlog', '--json']);
      expect(wrongType.code).toBe(1);
      expect((JSON.parse(wrongType.stdout) as { error: { code: string; details: { decision: string } } }).error.details.decision).toBe('no-matching-predicate');
      const wrongKey = await exitOf(['verify-attestation', image, '--key', join(dir.path, 'other.pub'), '--type', 'vuln', '--insecure-ignore-tlog', '--json']);
      expect(wrongKey.code).toBe(1);
      expect((JSON.parse(wrongKey.stdout) as { error: { code: string } }).error.code).toBe('NO_MATCHING_ATTESTATION');
      expect((await exitOf(['verify-attestation', `${registry.host}/cli:nope`, '--key', join(dir.path, 'cosign.pub'), '--insecure-ignore-tlog'])).code).toBe(11);
      expect((await exitOf(['attest', image, '--key', join(dir.path, 'cosign.key'), '--type', 'not a uri', '--predicate', join(dir.path, 'vuln.json')])).code).toBe(2);
    } finally {
      await dir.remove();
    }
  }, 300_000);
});
