import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/oci/client.js';
import { MediaType, type ImageManifest } from '../../src/oci/media-types.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { verifyImage } from '../../src/supply-chain/image.js';
import { generateCosignKeyPair, readPrivateKey, readPublicKey } from '../../src/supply-chain/keys.js';
import { signatureTag } from '../../src/supply-chain/registry.js';
import { signImage } from '../../src/supply-chain/sign.js';
import { Annotation } from '../../src/supply-chain/verify.js';
import { makeTempDir, type TempDir } from '../../src/util/temp.js';
import { exitOf } from './helpers/cli.js';
import { VECTORS } from './helpers/vectors.js';


let registry: StartedRegistry;
let client: RegistryClient;
let dir: TempDir;
const keys: { pub: string; priv: string }[] = [];

beforeAll(async () => {
  registry = await embeddedRegistry.start({ port: 0, storage: 'memory' });
  client = new RegistryClient({ baseUrl: registry.url });
  dir = await makeTempDir();
  for (const name of ['one', 'two']) {
    const pair = await generateCosignKeyPair('');
    await writeFile(join(dir.path, `${name}.key`), pair.privatePem);
    await writeFile(join(dir.path, `${name}.pub`), pair.publicPem);
    keys.push({ pub: pair.publicPem, priv: pair.privatePem });
  }
  await pushSynthImage(client, 'app', 'v1', { layers: [1024], seed: 'signed' });
  await pushSynthImage(client, 'app', 'bundle', { layers: [1024], seed: 'bundle' });
  await pushSynthImage(client, 'app', 'unsigned', { layers: [1024], seed: 'unsigned' });
});

afterAll(async () => {
  await registry?.[Symbol.asyncDispose]();
  await dir?.remove();
});

describe('signing in cosign layout', () => {
  it('writes the .sig tag with the simple-signing layer, signature annotation and an appended second signature', async () => {
    const image = `${registry.host}/app:v1`;
    const first = await signImage(client, image, { key: await readPrivateKey(keys[0]!.priv, ''), annotations: { team: 'payments' } });
    await signImage(client, image, { key: await readPrivateKey(keys[1]!.priv, '') });
    expect(first.location).toBe(signatureTag(first.digest));
    expect(first.location).toMatch(/^sha256-[0-9a-f]{64}\.sig$/);
    const sig = JSON.parse((await client.getManifest('app', first.location)).bytes.toString()) as ImageManifest;
    expect(sig.mediaType).toBe(MediaType.OciManifest);
    expect(sig.config.mediaType).toBe(MediaType.OciConfig);
    expect(sig.layers.map((l) => l.mediaType)).toEqual([MediaType.CosignSimpleSigning, MediaType.CosignSimpleSigning]);
    expect(Object.keys(sig.layers[0]!.annotations!)).toEqual([Annotation.signature]);
    const payload = JSON.parse((await readBlob('app', sig.layers[0]!.digest)).toString()) as unknown;
    expect(payload).toEqual({
      critical: { identity: { 'docker-reference': `${registry.host}/app` }, image: { 'docker-manifest-digest': first.digest }, type: 'cosign container image signature' },
      optional: { team: 'payments' },
    });
    const config = JSON.parse((await readBlob('app', sig.config.digest)).toString()) as { rootfs: { diff_ids: string[] } };
    expect(config.rootfs.diff_ids).toEqual(sig.layers.map((l) => l.digest));
  });

  it('verifies either signer, with the annotation, and reports the other signature as rejected', async () => {
    const image = `${registry.host}/app:v1`;
    const result = await verifyImage(image, { key: readPublicKey(keys[1]!.pub), ignoreTlog: true });
    expect(result.decision).toBe('verified');
    expect(result.rejected.map((r) => r.code)).toEqual(['SIGNATURE_INVALID']);
    const annotated = await verifyImage(image, { key: readPublicKey(keys[0]!.pub), ignoreTlog: true, annotations: { team: 'payments' } });
    expect(annotated.decision).toBe('verified');
    const wrong = await verifyImage(image, { key: readPublicKey(keys[0]!.pub), ignoreTlog: true, annotations: { team: 'other' } });
    expect(wrong.decision).toBe('no-matching-signature');
    expect(wrong.rejected.map((r) => r.code)).toEqual(['ANNOTATION_MISMATCH', 'SIGNATURE_INVALID']);
  });

  it('pushes a Sigstore bundle as an OCI 1.1 referrer, found before any .sig tag', async () => {
    const image = `${registry.host}/app:bundle`;
    const signed = await signImage(client, image, { key: await readPrivateKey(keys[0]!.priv, ''), format: 'bundle' });
    const index = await client.referrers('app', signed.digest, MediaType.SigstoreBundleV03);
    expect(index.manifests.map((d) => d.artifactType)).toEqual([MediaType.SigstoreBundleV03]);
    const manifest = JSON.parse((await client.getManifest('app', signed.location)).bytes.toString()) as ImageManifest;
    expect(manifest.subject?.digest).toBe(signed.digest);
    expect(manifest.config.mediaType).toBe(MediaType.OciEmpty);
    const result = await verifyImage(image, { key: readPublicKey(keys[0]!.pub), ignoreTlog: true });
    expect(result.decision).toBe('verified');
    expect(result.verified[0]!.source).toBe(`referrer ${signed.location}`);
    const other = await verifyImage(image, { key: readPublicKey(keys[1]!.pub), ignoreTlog: true });
    expect(other.rejected.map((r) => r.code)).toEqual(['SIGNATURE_INVALID']);
  });

  it('says no-signatures for an unsigned image', async () => {
    expect((await verifyImage(`${registry.host}/app:unsigned`, { key: readPublicKey(keys[0]!.pub), ignoreTlog: true })).decision).toBe('no-signatures');
  });
});

describe('pullbench sign / verify (cosign exit codes)', () => {
  it('signs, then verifies (0), no signatures (10), missing tag (11), wrong key (12), no certificate (13)', async () => {
    await pushSynthImage(client, 'cli', 'v1', { layers: [512], seed: 'cli' });
    const signed = await exitOf(['sign', `${registry.host}/cli:v1`, '--key', join(dir.path, 'one.key'), '--json']);
    expect(signed.code).toBe(0);
    const ok = await exitOf(['verify', `${registry.host}/cli:v1`, '--key', join(dir.path, 'one.pub'), '--insecure-ignore-tlog']);
    expect(ok.code).toBe(0);
    const payloads = JSON.parse(ok.stdout) as { critical: { type: string } }[];
    expect(payloads[0]!.critical.type).toBe('cosign container image signature');
    expect(ok.stderr).toContain('The cosign claims were validated');
    expect((await exitOf(['verify', `${registry.host}/app:unsigned`, '--key', join(dir.path, 'one.pub'), '--insecure-ignore-tlog'])).code).toBe(10);
    expect((await exitOf(['verify', `${registry.host}/cli:nope`, '--key', join(dir.path, 'one.pub'), '--insecure-ignore-tlog'])).code).toBe(11);
    const wrong = await exitOf(['verify', `${registry.host}/cli:v1`, '--key', join(dir.path, 'two.pub'), '--insecure-ignore-tlog', '--json']);
    expect(wrong.code).toBe(12);
    expect((JSON.parse(wrong.stdout) as { error: { details: { rejected: { code: string }[] } } }).error.details.rejected.map((r) => r.code)).toEqual(['SIGNATURE_INVALID']);
    const keyless = ['--certificate-identity', 'ci@example.com', '--certificate-oidc-issuer', 'https://issuer.example', '--insecure-ignore-tlog'];
    const roots = ['--ca-roots', join(VECTORS, 'containers-image', 'pki_root_crts.pem')];
    expect((await exitOf(['verify', `${registry.host}/cli:v1`, ...keyless, ...roots])).code).toBe(13);
  }, 300_000);
});

async function readBlob(repo: string, digest: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of (await client.getBlob(repo, digest)).body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
