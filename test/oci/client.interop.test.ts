import { afterAll, beforeAll, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { text, buffer } from 'node:stream/consumers';
import { RegistryClient } from '../../src/oci/client.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType, type ImageManifest } from '../../src/oci/media-types.js';
import { isPullbenchError } from '../../src/errors.js';
import { describeWithTools } from '../helpers/interop.js';
import { distributionRegistry, type StartedRegistry } from '../../src/registry/provider.js';

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isPullbenchError(err) ? err.code : err).toBe(code);
}

describeWithTools(['docker-registry'], 'RegistryClient against Debian docker-registry (distribution 2.8)', () => {
  let registry: StartedRegistry;
  let client: RegistryClient;

  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const small = Buffer.from('hello, registry\n');

  async function pushImage(repo: string, tag: string, layer: Buffer): Promise<{ digest: string; bytes: Buffer }> {
    const c = await client.pushBlob(repo, config);
    const l = await client.pushBlob(repo, layer);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: c.digest, size: c.size },
      layers: [{ mediaType: MediaType.OciLayerGzip, digest: l.digest, size: l.size }],
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const d = await client.putManifest(repo, tag, bytes, MediaType.OciManifest);
    return { digest: d.digest, bytes };
  }

  beforeAll(async () => {
    registry = await distributionRegistry.start({});
    client = new RegistryClient({ baseUrl: registry.url });
  });
  afterAll(async () => {
    await registry?.[Symbol.asyncDispose]();
  });

  it('pushes an image, resolves its tag by HEAD and fetches the manifest verified', async () => {
    const { digest, bytes } = await pushImage('app/one', 'v1', small);
    expect(digest).toBe(digestOf(bytes));
    const desc = await client.resolve('app/one', 'v1');
    expect(desc).toEqual({ mediaType: MediaType.OciManifest, digest, size: bytes.length });
    const byTag = await client.getManifest('app/one', 'v1');
    expect(byTag.bytes.equals(bytes)).toBe(true);
    const byDigest = await client.getManifest('app/one', digest);
    expect(byDigest.descriptor.digest).toBe(digest);
    expect(byDigest.mediaType).toBe(MediaType.OciManifest);
  });

  it('streams a blob back, verified, and serves ranges', async () => {
    const blob = await client.pushBlob('app/one', small);
    const got = await client.getBlob('app/one', blob.digest);
    expect(got.size).toBe(small.length);
    expect(await text(got.body)).toBe(small.toString());
    const part = await client.getBlob('app/one', blob.digest, { range: { start: 7, end: 14 } });
    expect(await text(part.body)).toBe('registry');
  });

  it('uploads large blobs in chunks (POST, PATCH with Content-Range, PUT) from a stream without a known digest', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 123);
    const desc = await client.pushBlob('app/chunks', Readable.from([data.subarray(0, 1000), data.subarray(1000)]), { chunkSize: 1024 * 1024 });
    expect(desc).toMatchObject({ digest: digestOf(data), size: data.length });
    expect(await client.headBlob('app/chunks', desc.digest)).toMatchObject({ size: data.length });
    expect((await buffer((await client.getBlob('app/chunks', desc.digest)).body)).equals(data)).toBe(true);
  });

  it('streams a monolithic upload when digest and size are known', async () => {
    const data = randomBytes(300_000);
    const desc = await client.pushBlob('app/stream', Readable.from([data]), { digest: digestOf(data), size: data.length });
    expect(desc.digest).toBe(digestOf(data));
    expect(await client.headBlob('app/stream', desc.digest)).toBeDefined();
  });

  it('skips the upload when the blob exists, and mounts across repositories', async () => {
    const data = randomBytes(10_000);
    const pushed = await client.pushBlob('app/source', data);
    const calls: string[] = [];
    const counting = new RegistryClient({
      baseUrl: registry.url,
      fetch: (input, init) => {
        calls.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}${new URL(String(input)).search.includes('mount=') ? ' mount' : ''}`);
        return fetch(input, init);
      },
    });
    await counting.pushBlob('app/source', data);
    expect(calls).toEqual([`HEAD /v2/app/source/blobs/${pushed.digest}`]);
    calls.length = 0;
    const mounted = await counting.pushBlob('app/target', data, { mountFrom: 'app/source' });
    expect(mounted.digest).toBe(pushed.digest);
    expect(calls).toEqual([`HEAD /v2/app/target/blobs/${pushed.digest}`, 'POST /v2/app/target/blobs/uploads/ mount']);
    expect(await client.headBlob('app/target', pushed.digest)).toBeDefined();
  });

  it('falls back to an upload when the mount source does not have the blob', async () => {
    const data = randomBytes(1000);
    const desc = await client.pushBlob('app/target2', data, { mountFrom: 'app/nowhere' });
    expect(await client.headBlob('app/target2', desc.digest)).toMatchObject({ size: 1000 });
  });

  it('lists tags across Link pages', async () => {
    const tags = ['a', 'b', 'c', 'd', 'e'];
    for (const t of tags) await pushImage('app/tags', t, small);
    expect((await client.listTags('app/tags', { pageSize: 2 })).sort()).toEqual(tags);
    expect((await client.listTags('app/tags')).sort()).toEqual(tags);
  });

  it('gives an empty index for referrers, which distribution 2.8 does not implement', async () => {
    const { digest } = await pushImage('app/refs', 'v1', small);
    expect((await client.referrers('app/refs', digest)).manifests).toEqual([]);
  });

  it('deletes a manifest, after which it is unknown', async () => {
    const { digest } = await pushImage('app/del', 'v1', Buffer.from('delete me'));
    await client.deleteManifest('app/del', digest);
    await expectCode(client.getManifest('app/del', digest), 'MANIFEST_UNKNOWN');
  });

  it('maps missing manifests and blobs to their codes with the HTTP status', async () => {
    await expectCode(client.resolve('app/one', 'nope'), 'MANIFEST_UNKNOWN');
    await expectCode(client.getManifest('app/missing', 'latest'), 'MANIFEST_UNKNOWN');
    await expectCode(client.getBlob('app/one', digestOf('absent')), 'BLOB_UNKNOWN');
    expect(await client.headBlob('app/one', digestOf('absent'))).toBeUndefined();
    const err = await client.getManifest('app/missing', 'latest').catch((e: unknown) => e);
    expect(isPullbenchError(err) && err.details.status).toBe(404);
  });

  it('has the registry reject a wrong digest on upload as DIGEST_MISMATCH', async () => {
    const data = randomBytes(1000);
    await expectCode(client.pushBlob('app/bad', Readable.from([data]), { digest: digestOf('other'), size: 1000 }), 'DIGEST_MISMATCH');
    expect(await client.headBlob('app/bad', digestOf('other'))).toBeUndefined();
  });

  it('rejects a manifest whose layers were never pushed', async () => {
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: digestOf('x'), size: 1 },
      layers: [],
    };
    await expectCode(client.putManifest('app/bad', 'v1', Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest), 'INVALID_MANIFEST');
  });
});
