import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedRuntime } from '../../src/node/runtimes/embedded.js';
import { applyLayer, syncGunzipAvailable } from '../../src/node/runtimes/layer-apply.js';
import { BlobSink } from '../../src/node/runtimes/layer-store.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { makeTempDir } from '../../src/util/temp.js';
import { pushIndex, pushWithClient, synthImage, tarWithFile, type SynthImage } from './helpers/images.js';
import { slowBlobFetch } from './helpers/slow-fetch.js';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

// The same image with other diff_ids in its config (and so another config and manifest digest).
function withDiffIds(img: SynthImage, diffIds: string[]): SynthImage {
  const config = Buffer.from(JSON.stringify({ ...JSON.parse(img.config.toString()), rootfs: { type: 'layers', diff_ids: diffIds } }));
  const manifest = JSON.parse(img.manifest.toString()) as { config: { digest: string; size: number } };
  manifest.config = { ...manifest.config, digest: sha256(config), size: config.length };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    ...img,
    config,
    configDigest: sha256(config),
    manifest: manifestBytes,
    manifestDigest: sha256(manifestBytes),
    contentSize: img.contentSize - img.config.length - img.manifest.length + config.length + manifestBytes.length,
  };
}

/**
 * A front for the registry: forwards every request, after `route`'s promise for the blob path when it gives one,
 * or answers 404 itself where `route` says 'missing'. Records each path once its answer has been sent.
 */
async function startFront(upstream: string, route: (pathname: string) => Promise<void> | 'missing' | undefined) {
  const served: string[] = [];
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    const pathname = new URL(path, 'http://front').pathname;
    res.on('finish', () => served.push(pathname));
    const how = route(pathname);
    if (how === 'missing') return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}');
    const forward = (): void => {
      const out = request(`${upstream}${path}`, { method: req.method, headers: { accept: req.headers.accept ?? '*/*' } }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      out.on('error', () => res.writeHead(502).end());
      out.end();
    };
    if (how) void how.then(forward);
    else forward();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    served,
    close: async (): Promise<void> => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A promise and the function that settles it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

describe('the embedded runtime', () => {
  let registry: StartedRegistry;
  let base: SynthImage;
  let sibling: SynthImage;
  let wide: SynthImage;
  let zstd: SynthImage;
  const hostsToml = (): Record<string, string> => ({ [registry.host]: `server = "http://${registry.host}"\n` });
  const start = (extra: Partial<Parameters<typeof EmbeddedRuntime.start>[0]> = {}) =>
    EmbeddedRuntime.start({ label: 't', hostsToml: hostsToml(), ...extra });

  beforeAll(async () => {
    registry = await embeddedRegistry.start({});
    base = synthImage([200_000, 50_000]);
    sibling = synthImage([30_000], { shared: base.layers });
    wide = synthImage([20_000, 20_000, 20_000, 20_000, 20_000, 20_000]);
    zstd = synthImage([300_000, 10_000], { compression: 'zstd' });
    await pushWithClient(registry.url, 'lib/base', 'v1', base);
    await pushWithClient(registry.url, 'lib/sibling', 'v1', sibling);
    await pushWithClient(registry.url, 'lib/wide', 'v1', wide);
    await pushWithClient(registry.url, 'lib/zstd', 'v1', zstd);
  });
  afterAll(async () => registry?.[Symbol.asyncDispose]());

  it('pulls an image and reports it as containerd\'s CRI does', async () => {
    await using rt = await start();
    const ref = await rt.pullImage(`${registry.host}/lib/base:v1`);
    expect(ref).toBe(base.configDigest);
    const status = await rt.imageStatus(`${registry.host}/lib/base:v1`);
    expect(status).toEqual({
      id: base.configDigest,
      size: base.contentSize,
      repoTags: [`${registry.host}/lib/base:v1`],
      repoDigests: [`${registry.host}/lib/base@${base.manifestDigest}`],
    });
    expect(await rt.imageStatus(base.configDigest)).toEqual(status);
    expect(await rt.imageStatus(`${registry.host}/lib/base@${base.manifestDigest}`)).toEqual(status);
    expect(await rt.listImages()).toEqual([status]);
    expect(rt.stats()).toMatchObject({ pulls: 1, failedPulls: 0 });
  });

  it('stores a layer shared by two images once and does not download it again', async () => {
    await using rt = await start();
    await rt.pullImage(`${registry.host}/lib/base:v1`);
    registry.resetStats();
    await rt.pullImage(`${registry.host}/lib/sibling:v1`);
    // only the new layer and the new config
    expect(registry.stats().blobGet).toBe(2);
    const shared = base.layers.reduce((n, l) => n + l.gz.length, 0);
    expect(rt.contentSize()).toBe(base.contentSize + sibling.contentSize - shared);
  });

  it('shares one download between concurrent pulls of the same blobs', async () => {
    await using rt = await start();
    registry.resetStats();
    await Promise.all([rt.pullImage(`${registry.host}/lib/base:v1`), rt.pullImage(`${registry.host}/lib/base:v1`)]);
    expect(registry.stats().blobGet).toBe(3);
  });

  it('never fetches more than max_concurrent_downloads blobs at once', async () => {
    for (const limit of [1, 3]) {
      const slow = slowBlobFetch();
      await using rt = await start({ fetch: slow.fetch, maxConcurrentDownloads: limit });
      await rt.pullImage(`${registry.host}/lib/wide:v1`);
      expect(slow.peak(), `limit ${limit}`).toBe(limit);
    }
  });

  it('decompresses zstd layers, in both layer store modes', async () => {
    for (const layerStore of ['disk', 'inflate-only'] as const) {
      await using rt = await start({ layerStore });
      expect(await rt.pullImage(`${registry.host}/lib/zstd:v1`)).toBe(zstd.configDigest);
    }
  });

  it('removes an image and the content only it used', async () => {
    await using rt = await start();
    await rt.pullImage(`${registry.host}/lib/base:v1`);
    await rt.pullImage(`${registry.host}/lib/sibling:v1`);
    await rt.removeImage(`${registry.host}/lib/sibling:v1`);
    expect(await rt.imageStatus(`${registry.host}/lib/sibling:v1`)).toBeUndefined();
    expect(rt.contentSize()).toBe(base.contentSize);
    await rt.removeImage(`${registry.host}/lib/absent:v1`);
  });

  it('pulls only the host platform from an index and names the index in repoDigests', async () => {
    const amd = synthImage([40_000], { architecture: 'amd64' });
    const arm = synthImage([40_000], { architecture: 'arm64' });
    const index = await pushIndex(registry.url, 'lib/multi', 'v1', [
      { img: arm, architecture: 'arm64' },
      { img: amd, architecture: 'amd64' },
    ]);
    const indexDigest = `sha256:${createHash('sha256').update(index).digest('hex')}`;
    await using rt = await start({ platform: { os: 'linux', architecture: 'amd64' } });
    registry.resetStats();
    expect(await rt.pullImage(`${registry.host}/lib/multi:v1`)).toBe(amd.configDigest);
    expect(registry.stats().blobGet).toBe(2);
    expect(await rt.imageStatus(`${registry.host}/lib/multi:v1`)).toMatchObject({
      repoDigests: [`${registry.host}/lib/multi@${indexDigest}`],
      size: index.length + amd.contentSize,
    });
  });

  it('commits metadata as containerd 1.6 syncs bbolt: 15 + 9 per layer cold, 14 for a pull of an image it has', async () => {
    await using rt = await start();
    await rt.pullImage(`${registry.host}/lib/base:v1`);
    expect(rt.stats().metadataCommits).toBe(15 + 9 * base.layers.length);
    await rt.pullImage(`${registry.host}/lib/base:v1`);
    expect(rt.stats().metadataCommits).toBe(15 + 9 * base.layers.length + 14);
    // Only the sibling's own layer is new.
    await rt.pullImage(`${registry.host}/lib/sibling:v1`);
    expect(rt.stats().metadataCommits).toBe(15 + 9 * base.layers.length + 14 + 15 + 9);
    await using streaming = await start({ layerStore: 'inflate-only' });
    await streaming.pullImage(`${registry.host}/lib/base:v1`);
    expect(streaming.stats().metadataCommits).toBe(0);
  });

  it('fails a layer whose unpacked digest is not its diff_id, as containerd\'s unpacker does, and keeps none of it', async () => {
    const liar = withDiffIds(base, [base.layers[0]!.diffId, base.layers[0]!.diffId]);
    await pushWithClient(registry.url, 'lib/liar', 'v1', liar);
    await using rt = await start();
    const err = await rt.pullImage(`${registry.host}/lib/liar:v1`).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'RUNTIME_ERROR', details: { code: 'DIGEST_MISMATCH', layer: base.layers[1]!.digest } });
    expect((err as Error).message).toContain(`wrong diff id calculated on extraction "${base.layers[1]!.diffId}"`);
    expect(await rt.listImages()).toEqual([]);
    // Both layers' downloads committed their content (ingest, commit: 3 transactions each) before any unpack, as
    // containerd's fetch handler does beside the unpacker; only the first layer was unpacked (6), and no image recorded.
    expect(rt.stats().metadataCommits).toBe(3 + 3 + 6);
    // The manifest, config and first layer stay in the content store, as in containerd's; the bad layer does not.
    expect(rt.contentSize()).toBe(liar.contentSize - base.layers[1]!.gz.length);
    // Pulled again, the layer is fetched again (and fails again), not taken from the store.
    registry.resetStats();
    await expect(rt.pullImage(`${registry.host}/lib/liar:v1`)).rejects.toMatchObject({ details: { code: 'DIGEST_MISMATCH' } });
    expect(registry.stats().blobGet).toBe(1);
  });

  it('fails an image whose diff_ids do not match a layer another image holds, and keeps that layer for it', async () => {
    const liar = withDiffIds(base, [base.layers[0]!.diffId, base.layers[0]!.diffId]);
    await pushWithClient(registry.url, 'lib/liar2', 'v1', liar);
    await using rt = await start();
    await rt.pullImage(`${registry.host}/lib/base:v1`);
    registry.resetStats();
    await expect(rt.pullImage(`${registry.host}/lib/liar2:v1`)).rejects.toMatchObject({
      details: { code: 'DIGEST_MISMATCH', layer: base.layers[1]!.digest },
    });
    // No layer was fetched (both were in the store), and both stay for the image that holds them.
    expect(registry.stats().blobGet).toBe(1);
    expect(rt.contentSize()).toBe(base.contentSize + liar.config.length + liar.manifest.length);
    expect((await rt.listImages()).map((i) => i.id)).toEqual([base.configDigest]);
    // The image that holds them pulls again from the store, its layers applied and matching.
    registry.resetStats();
    expect(await rt.pullImage(`${registry.host}/lib/base:v1`)).toBe(base.configDigest);
    expect(registry.stats().blobGet).toBe(0);
  });

  it('keeps a layer that a failing pull fetched while another pull that holds it is still under way', async () => {
    // Two pulls at once of images that share a new layer: the one that fetches it has diff_ids that do not match it,
    // the other's do. The layer is held back at the front until the second pull has joined the download.
    const liar = withDiffIds(base, [base.layers[0]!.diffId, base.layers[0]!.diffId]);
    await pushWithClient(registry.url, 'lib/liar3', 'v1', liar);
    const shared = base.layers[1]!.digest;
    const hold = gate();
    const asked = gate();
    const front = await startFront(registry.url, (p) => (p.endsWith(shared) ? (asked.open(), hold.opened) : undefined));
    try {
      await using rt = await EmbeddedRuntime.start({ label: 't', hostsToml: { [registry.host]: `server = "http://${front.host}"\n` } });
      const failing = rt.pullImage(`${registry.host}/lib/liar3:v1`).catch((e: unknown) => e);
      await asked.opened;
      const holding = rt.pullImage(`${registry.host}/lib/base:v1`);
      // The second pull has its config (then it asks for its layers at once: the shared one joins the download).
      await expect.poll(() => front.served.some((p) => p.endsWith(`/blobs/${base.configDigest}`)), { timeout: 5_000 }).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
      hold.open();
      expect(await failing).toMatchObject({ details: { code: 'DIGEST_MISMATCH', layer: shared } });
      expect(await holding).toBe(base.configDigest);
      // The layer stays, with the image that holds it: pulled again, nothing is fetched.
      expect(rt.contentSize()).toBe(base.contentSize + liar.config.length + liar.manifest.length);
      registry.resetStats();
      expect(await rt.pullImage(`${registry.host}/lib/base:v1`)).toBe(base.configDigest);
      expect(registry.stats().blobGet).toBe(0);
    } finally {
      hold.open();
      await front.close();
    }
  });

  it('keeps what a pull under way uses when an image that shares it is removed', async () => {
    const own = sibling.layers.find((l) => !base.layers.includes(l))!.digest;
    const hold = gate();
    const asked = gate();
    const front = await startFront(registry.url, (p) => (p.endsWith(own) ? (asked.open(), hold.opened) : undefined));
    try {
      await using rt = await EmbeddedRuntime.start({ label: 't', hostsToml: { [registry.host]: `server = "http://${front.host}"\n` } });
      await rt.pullImage(`${registry.host}/lib/base:v1`);
      const pulling = rt.pullImage(`${registry.host}/lib/sibling:v1`);
      await asked.opened;
      // The base image goes while the sibling, which shares its layers, is still being pulled.
      await rt.removeImage(`${registry.host}/lib/base:v1`);
      hold.open();
      expect(await pulling).toBe(sibling.configDigest);
      expect(rt.contentSize()).toBe(sibling.contentSize);
      registry.resetStats();
      await rt.pullImage(`${registry.host}/lib/sibling:v1`);
      expect(registry.stats().blobGet).toBe(0);
    } finally {
      hold.open();
      await front.close();
    }
  });

  it('fails when a later layer fails while an earlier one is still downloading, with no unhandled rejection', async () => {
    // In front of the registry: the first layer answers after 300 ms, the second is missing at once.
    const slow = base.layers[0]!.digest;
    const missing = base.layers[1]!.digest;
    const front = await startFront(registry.url, (p) =>
      p.endsWith(missing) ? 'missing' : p.endsWith(slow) ? new Promise<void>((r) => setTimeout(r, 300)) : undefined,
    );
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await using rt = await EmbeddedRuntime.start({ label: 't', hostsToml: { [registry.host]: `server = "http://${front.host}"\n` } });
      await expect(rt.pullImage(`${registry.host}/lib/base:v1`)).rejects.toThrow(/not found|blob unknown|404/i);
      // Give a stray rejection the turns it needs to be reported.
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
      // What verified (the config, the slow layer) is kept for the next pull; no image is recorded.
      expect(await rt.listImages()).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await front.close();
    }
  });

  it('fails a missing tag with containerd\'s NotFound message', async () => {
    await using rt = await start();
    const image = `${registry.host}/lib/base:nope`;
    await expect(rt.pullImage(image)).rejects.toMatchObject({
      code: 'RUNTIME_ERROR',
      message: `rpc error: code = NotFound desc = failed to pull and unpack image "${image}": failed to resolve reference "${image}": ${image}: not found`,
    });
    expect(rt.stats()).toMatchObject({ pulls: 0, failedPulls: 1 });
  });
});

const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

describe('the disk store\'s blob sink and layer applier', () => {
  it('drives zlib synchronously on the Node it runs on (the gzip apply a layer thread uses)', () => {
    expect(syncGunzipAvailable()).toBe(true);
  });

  it('writes the blob, then its unpacked bytes, byte for byte, across many stages and odd chunk sizes', async () => {
    await using dir = await makeTempDir('pbsink-');
    const tar = tarWithFile('big.bin', 3 * 1024 * 1024 + 12_345);
    const gz = gzipSync(tar, { level: 1 });
    const chunks: Buffer[] = [];
    for (let at = 0, i = 0; at < gz.length; i++) {
      const n = [1, 65_536, 700_001, 13][i % 4]!;
      chunks.push(gz.subarray(at, at + n));
      at += n;
    }
    // Twice over the same spare stages: the second layer reuses the first one's, and is written as faithfully.
    const spares: Buffer[] = [];
    for (const [name, sync] of [['first', true], ['second', true], ['streamed', false]] as const) {
      const blob = join(dir.path, `${name}.blob`);
      await pipeline(Readable.from(chunks), await BlobSink.open(blob, spares));
      expect(spares).toHaveLength(2);
      expect((await readFile(blob)).equals(gz)).toBe(true);
      const diffId = await applyLayer(blob, join(dir.path, `${name}.snapshot`), GZIP, { spares, sync });
      expect(spares).toHaveLength(2);
      expect((await readFile(join(dir.path, `${name}.snapshot`))).equals(tar)).toBe(true);
      expect(diffId).toBe(sha256(tar));
    }
  });

  it('applies what the streaming gunzip applies: compressible layers (more out than in), several gzip members, zero padding after the stream, an empty layer', async () => {
    await using dir = await makeTempDir('pbsink-');
    // 6 MiB of text-like bytes: each 256 KiB read of the blob unpacks to several MiB.
    const text = Buffer.from(Array.from({ length: 200_000 }, (_, i) => `line ${i % 977} of a layer\n`).join(''));
    const member2 = randomBytes(300_000);
    const cases: [string, Buffer, Buffer][] = [
      ['compressible', gzipSync(text, { level: 9 }), text],
      ['two members', Buffer.concat([gzipSync(text.subarray(0, 1000)), gzipSync(member2)]), Buffer.concat([text.subarray(0, 1000), member2])],
      ['zero padding', Buffer.concat([gzipSync(member2), Buffer.alloc(300_000)]), member2],
      ['empty', gzipSync(Buffer.alloc(0)), Buffer.alloc(0)],
    ];
    for (const [name, gz, unpacked] of cases) {
      const blob = join(dir.path, 'blob');
      await writeFile(blob, gz);
      for (const sync of [true, false]) {
        const snapshot = join(dir.path, `snapshot-${sync}`);
        const diffId = await applyLayer(blob, snapshot, GZIP, { sync });
        expect({ name, sync, same: (await readFile(snapshot)).equals(unpacked), diffId }).toEqual({ name, sync, same: true, diffId: sha256(unpacked) });
      }
    }
  });

  it('fails, and does not hang, when a file write fails (a full disk)', async () => {
    await using dir = await makeTempDir('pbsink-');
    const gz = gzipSync(tarWithFile('x.bin', 3 * 1024 * 1024), { level: 1 });
    await expect(pipeline(Readable.from([gz]), await BlobSink.open('/dev/full'))).rejects.toMatchObject({ code: 'ENOSPC' });
    const blob = join(dir.path, 'blob');
    await writeFile(blob, gz);
    for (const sync of [true, false]) await expect(applyLayer(blob, '/dev/full', GZIP, { sync })).rejects.toMatchObject({ code: 'ENOSPC' });
  });

  it('fails on a corrupt layer, and does not hang, instead of writing a short snapshot', async () => {
    await using dir = await makeTempDir('pbsink-');
    const gz = gzipSync(tarWithFile('x.bin', 4 * 1024 * 1024), { level: 1 });
    const corrupt = Buffer.concat([gz.subarray(0, 1024 * 1024), Buffer.alloc(4096, 0xff), gz.subarray(1024 * 1024 + 4096)]);
    const truncated = gz.subarray(0, gz.length - 1000);
    const badCrc = Buffer.from(gz);
    badCrc[badCrc.length - 5]! ^= 0xff;
    // As gunzip does: bytes after the stream that are neither padding (zeros) nor another member are an error.
    const garbage = Buffer.concat([gz, Buffer.from('not gzip at all')]);
    const cases = [
      ['corrupt', corrupt, /./],
      ['truncated', truncated, /unexpected end of file/],
      ['bad crc', badCrc, /incorrect data check/],
      ['garbage after the stream', garbage, /incorrect header check/],
    ] as const;
    for (const [name, bytes, message] of cases) {
      const blob = join(dir.path, 'blob');
      await writeFile(blob, bytes);
      for (const sync of [true, false]) {
        const err = await applyLayer(blob, join(dir.path, 'snapshot'), GZIP, { sync }).catch((e: unknown) => e);
        expect({ name, sync, code: (err as { code?: string }).code, message: (err as Error).message }).toMatchObject({ name, sync, code: expect.stringMatching(/^Z_/), message: expect.stringMatching(message) });
      }
    }
  });
});
