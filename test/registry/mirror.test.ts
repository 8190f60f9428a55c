import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { startRegistryServer, type RunningRegistryServer } from '../../src/registry/server.js';
import { makeImage, pushImage } from './helpers.js';

const started: RunningRegistryServer[] = [];
async function start(...args: Parameters<typeof startRegistryServer>): Promise<RunningRegistryServer> {
  const r = await startRegistryServer(...args);
  started.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((r) => r.close()));
});

const accept = { Accept: MediaType.OciManifest };

for (const storage of ['filesystem', 'memory'] as const) {
  describe(`the embedded registry as a pull-through mirror (${storage})`, () => {
    it('caches manifests and blobs, revalidating tags with HEAD only', async () => {
      const origin = await start({ storage: 'memory' });
      const image = makeImage([5000]);
      await pushImage(origin.url, 'library/app', image);
      const mirror = await start({ storage, upstream: { url: origin.url } });
      origin.resetStats();
      for (let i = 0; i < 2; i++) {
        const m = await fetch(`${mirror.url}/v2/library/app/manifests/v1`, { headers: accept });
        expect(Buffer.from(await m.arrayBuffer()).equals(image.manifest)).toBe(true);
        const layer = await fetch(`${mirror.url}/v2/library/app/blobs/${digestOf(image.layers[0]!)}`);
        expect(Buffer.from(await layer.arrayBuffer()).equals(image.layers[0]!)).toBe(true);
      }
      expect(origin.stats()).toMatchObject({ manifestHead: 2, manifestGet: 1, blobGet: 1 });
      expect(mirror.stats()).toMatchObject({ upstreamManifestGet: 1, upstreamBlobGet: 1 });
    });

    it('fetches the new manifest when the tag moves upstream', async () => {
      const origin = await start({ storage: 'memory' });
      const v1 = makeImage([10]);
      const v2 = makeImage([20]);
      await pushImage(origin.url, 'app', v1);
      const mirror = await start({ storage, upstream: { url: origin.url } });
      const get = async (): Promise<string | null> => (await fetch(`${mirror.url}/v2/app/manifests/v1`, { headers: accept })).headers.get('docker-content-digest');
      expect(await get()).toBe(v1.manifestDigest);
      await pushImage(origin.url, 'app', v2);
      expect(await get()).toBe(v2.manifestDigest);
    });

    it('serves the cached copy when upstream is down, and 503 for what it never cached', async () => {
      const origin = await start({ storage: 'memory' });
      const image = makeImage([10]);
      await pushImage(origin.url, 'app', image);
      const mirror = await start({ storage, upstream: { url: origin.url } });
      await (await fetch(`${mirror.url}/v2/app/manifests/v1`, { headers: accept })).arrayBuffer();
      await (await fetch(`${mirror.url}/v2/app/blobs/${digestOf(image.layers[0]!)}`)).arrayBuffer();
      await origin.close();
      const cached = await fetch(`${mirror.url}/v2/app/manifests/v1`, { headers: accept });
      expect(cached.status).toBe(200);
      expect(cached.headers.get('docker-content-digest')).toBe(image.manifestDigest);
      expect((await fetch(`${mirror.url}/v2/app/blobs/${digestOf(image.layers[0]!)}`)).status).toBe(200);
      expect((await fetch(`${mirror.url}/v2/app/manifests/other`, { headers: accept })).status).toBe(503);
    });

    it('coalesces concurrent misses for one blob into one upstream GET, streaming to every client', async () => {
      const origin = await start({ storage: 'memory', faults: { latencyMs: 50 } });
      const image = makeImage([8 * 1024 * 1024]);
      await pushImage(origin.url, 'big', image);
      const mirror = await start({ storage, upstream: { url: origin.url } });
      origin.resetStats();
      const layer = image.layers[0]!;
      const bodies = await Promise.all(
        Array.from({ length: 10 }, async () => Buffer.from(await (await fetch(`${mirror.url}/v2/big/blobs/${digestOf(layer)}`)).arrayBuffer())),
      );
      for (const b of bodies) expect(b.equals(layer)).toBe(true);
      expect(origin.stats().blobGet).toBe(1);
      expect(mirror.stats()).toMatchObject({ blobGet: 10, upstreamBlobGet: 1, upstreamBytes: layer.length });
      const ranged = await fetch(`${mirror.url}/v2/big/blobs/${digestOf(layer)}`, { headers: { Range: 'bytes=100-199' } });
      expect(Buffer.from(await ranged.arrayBuffer()).equals(layer.subarray(100, 200))).toBe(true);
    }, 120_000);

    it('answers 404 BLOB_UNKNOWN for a blob upstream does not have', async () => {
      const origin = await start({ storage: 'memory' });
      const mirror = await start({ storage, upstream: { url: origin.url } });
      const unknown = digestOf(randomBytes(10));
      expect((await fetch(`${mirror.url}/v2/app/blobs/${unknown}`)).status).toBe(404);
    });
  });
}

describe('a mirror of a registry with token auth', () => {
  it('pulls upstream with its own credentials and counts upstream traffic', async () => {
    const user = { username: 'mirror', password: 'pw-upstream' };
    const origin = await start({ storage: 'memory', auth: 'token', users: [user] });
    const image = makeImage([300]);
    const tokenRes = await fetch(`${origin.url}/token?scope=repository:app:pull,push`, {
      headers: { Authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}` },
    });
    const { token } = (await tokenRes.json()) as { token: string };
    await pushImage(origin.url, 'app', image, 'v1', { Authorization: `Bearer ${token}` });
    const mirror = await start({ storage: 'memory', upstream: { url: origin.url, credentials: user } });
    const m = await fetch(`${mirror.url}/v2/app/manifests/v1`, { headers: accept });
    expect(m.status).toBe(200);
    const blob = await fetch(`${mirror.url}/v2/app/blobs/${digestOf(image.layers[0]!)}`);
    expect(Buffer.from(await blob.arrayBuffer()).equals(image.layers[0]!)).toBe(true);
    const metrics = await (await fetch(`${mirror.url}/metrics`)).text();
    expect(metrics).toContain('pullbench_registry_upstream_fetches_total{kind="blob"} 1');
    const unauth = await start({ storage: 'memory', upstream: { url: origin.url } });
    expect((await fetch(`${unauth.url}/v2/app/manifests/v1`, { headers: accept })).status).toBe(502);
  });
});


describe('closing a filesystem mirror while it fills from upstream', () => {
  it('stops the fill, waits for its file work and removes its storage', async () => {
    const blob = randomBytes(4 * 1024 * 1024);
    const digest = digestOf(blob);
    // An upstream that sends half of a blob and then stalls, as a slow or hung registry does.
    const stalled: import('node:http').ServerResponse[] = [];
    let upstreamClosed = false;
    const upstream = createServer((req, res) => {
      if (req.url === `/v2/app/blobs/${digest}` && req.method === 'GET') {
        res.writeHead(200, { 'Content-Length': String(blob.length), 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': digest });
        res.write(blob.subarray(0, blob.length / 2));
        res.on('close', () => (upstreamClosed = true));
        stalled.push(res);
        return;
      }
      res.writeHead(req.url === '/v2/' ? 200 : 404, { 'Content-Type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    try {
      const mirror = await startRegistryServer({ storage: 'filesystem', upstream: { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` } });
      const response = await fetch(`${mirror.url}/v2/app/blobs/${digest}`);
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      expect((await reader.read()).done).toBe(false);
      await mirror.close();
      expect(existsSync(mirror.rootDir!)).toBe(false);
      // The fill was stopped, not left running against a directory that is gone.
      await new Promise((r) => setTimeout(r, 50));
      expect(upstreamClosed).toBe(true);
      await reader.cancel().catch(() => undefined);
    } finally {
      for (const res of stalled) res.destroy();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});

describe('closing a mirror while an upstream manifest body stalls', () => {
  it('ends the upstream fetch instead of waiting for it', async () => {
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: {}, layers: [] }));
    const digest = digestOf(manifest);
    const stalled: import('node:http').ServerResponse[] = [];
    const upstream = createServer((req, res) => {
      if (req.url === '/v2/app/manifests/v1' || req.url === `/v2/app/manifests/${digest}`) {
        res.writeHead(200, { 'Content-Type': MediaType.OciManifest, 'Content-Length': String(manifest.length), 'Docker-Content-Digest': digest });
        if (req.method === 'HEAD') return void res.end();
        res.write(manifest.subarray(0, 10));
        stalled.push(res);
        return;
      }
      res.writeHead(req.url === '/v2/' ? 200 : 404, { 'Content-Type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    try {
      const mirror = await startRegistryServer({ storage: 'memory', upstream: { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` } });
      const pending = fetch(`${mirror.url}/v2/app/manifests/v1`, { headers: accept }).catch(() => undefined);
      await vi.waitFor(() => expect(stalled).toHaveLength(1));
      const t0 = Date.now();
      await mirror.close();
      // Well before the bounded wait for fetches it cannot abort (5 s).
      expect(Date.now() - t0).toBeLessThan(4000);
      await pending;
    } finally {
      for (const res of stalled) res.destroy();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});
