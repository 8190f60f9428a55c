import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { LISTEN_BACKLOG, startRegistryServer, type RunningRegistryServer } from '../../src/registry/server.js';
import { findTool } from '../../src/util/tools.js';
import { errorCode, makeImage, pushImage } from './helpers.js';

/** GET with the path sent exactly as written (fetch would normalise `..`). */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/`, { path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

for (const storage of ['filesystem', 'memory'] as const) {
  describe(`the embedded registry with ${storage} storage`, () => {
    let reg: RunningRegistryServer;
    const image = makeImage([1000, 300_000]);
    beforeAll(async () => {
      reg = await startRegistryServer({ storage, maxManifestBytes: 64 * 1024, maxBlobBytes: 1024 * 1024 });
      await pushImage(reg.url, 'team/app', image);
    });
    afterAll(async () => reg.close());

    it('answers /v2/ with the API version header', async () => {
      const res = await fetch(`${reg.url}/v2/`);
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    });

    it('serves a manifest by tag and by digest with digest, length and its own media type', async () => {
      for (const ref of ['v1', image.manifestDigest]) {
        for (const method of ['GET', 'HEAD']) {
          const res = await fetch(`${reg.url}/v2/team/app/manifests/${ref}`, { method, headers: { Accept: MediaType.OciManifest } });
          expect(res.status).toBe(200);
          expect(res.headers.get('docker-content-digest')).toBe(image.manifestDigest);
          expect(res.headers.get('content-type')).toBe(MediaType.OciManifest);
          expect(Number(res.headers.get('content-length'))).toBe(image.manifest.length);
          if (method === 'GET') expect(Buffer.from(await res.arrayBuffer()).equals(image.manifest)).toBe(true);
        }
      }
    });

    it('answers 404 MANIFEST_UNKNOWN when the Accept header excludes the manifest type', async () => {
      const res = await fetch(`${reg.url}/v2/team/app/manifests/v1`, { headers: { Accept: MediaType.DockerManifest } });
      expect(res.status).toBe(404);
      expect(await errorCode(res)).toBe('MANIFEST_UNKNOWN');
    });

    it('serves blobs whole and by range', async () => {
      const layer = image.layers[1]!;
      const d = digestOf(layer);
      const full = await fetch(`${reg.url}/v2/team/app/blobs/${d}`);
      expect(Buffer.from(await full.arrayBuffer()).equals(layer)).toBe(true);
      const part = await fetch(`${reg.url}/v2/team/app/blobs/${d}`, { headers: { Range: 'bytes=10-19' } });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes 10-19/${layer.length}`);
      expect(Buffer.from(await part.arrayBuffer()).equals(layer.subarray(10, 20))).toBe(true);
      const suffix = await fetch(`${reg.url}/v2/team/app/blobs/${d}`, { headers: { Range: 'bytes=-5' } });
      expect(Buffer.from(await suffix.arrayBuffer()).equals(layer.subarray(-5))).toBe(true);
      const bad = await fetch(`${reg.url}/v2/team/app/blobs/${d}`, { headers: { Range: `bytes=${layer.length}-` } });
      expect(bad.status).toBe(416);
      expect(await errorCode(bad)).toBe('RANGE_INVALID');
      const head = await fetch(`${reg.url}/v2/team/app/blobs/${d}`, { method: 'HEAD' });
      expect(Number(head.headers.get('content-length'))).toBe(layer.length);
    });

    it('hides a blob from a repository it was never pushed or mounted to', async () => {
      const res = await fetch(`${reg.url}/v2/other/blobs/${digestOf(image.layers[0]!)}`);
      expect(res.status).toBe(404);
      expect(await errorCode(res)).toBe('BLOB_UNKNOWN');
    });

    it('mounts a blob across repositories', async () => {
      const d = digestOf(image.layers[0]!);
      const res = await fetch(`${reg.url}/v2/mounted/blobs/uploads/?mount=${d}&from=team/app`, { method: 'POST' });
      expect(res.status).toBe(201);
      expect(res.headers.get('location')).toBe(`/v2/mounted/blobs/${d}`);
      expect((await fetch(`${reg.url}/v2/mounted/blobs/${d}`, { method: 'HEAD' })).status).toBe(200);
      const fallback = await fetch(`${reg.url}/v2/mounted/blobs/uploads/?mount=${d}&from=nowhere`, { method: 'POST' });
      expect(fallback.status).toBe(202);
    });

    it('accepts a chunked upload with Content-Range and reports its status', async () => {
      const blob = randomBytes(50_000);
      const start = await fetch(`${reg.url}/v2/chunked/blobs/uploads/`, { method: 'POST' });
      expect(start.status).toBe(202);
      let location = start.headers.get('location')!;
      const chunks = [blob.subarray(0, 20_000), blob.subarray(20_000, 45_000)];
      let offset = 0;
      for (const chunk of chunks) {
        const res = await fetch(`${reg.url}${location}`, {
          method: 'PATCH',
          body: chunk,
          headers: { 'Content-Range': `${offset}-${offset + chunk.length - 1}`, 'Content-Type': 'application/octet-stream' },
        });
        expect(res.status).toBe(202);
        offset += chunk.length;
        expect(res.headers.get('range')).toBe(`0-${offset - 1}`);
        location = res.headers.get('location')!;
      }
      const status = await fetch(`${reg.url}${location}`);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe('0-44999');
      const outOfOrder = await fetch(`${reg.url}${location}`, { method: 'PATCH', body: blob.subarray(0, 10), headers: { 'Content-Range': '0-9' } });
      expect(outOfOrder.status).toBe(416);
      const done = await fetch(`${reg.url}${location}?digest=${digestOf(blob)}`, { method: 'PUT', body: blob.subarray(45_000) });
      expect(done.status).toBe(201);
      const got = await fetch(`${reg.url}/v2/chunked/blobs/${digestOf(blob)}`);
      expect(Buffer.from(await got.arrayBuffer()).equals(blob)).toBe(true);
    });

    it('cancels an upload', async () => {
      const start = await fetch(`${reg.url}/v2/cancel/blobs/uploads/`, { method: 'POST' });
      const location = start.headers.get('location')!;
      expect((await fetch(`${reg.url}${location}`, { method: 'DELETE' })).status).toBe(204);
      const after = await fetch(`${reg.url}${location}`);
      expect(after.status).toBe(404);
      expect(await errorCode(after)).toBe('BLOB_UPLOAD_UNKNOWN');
    });

    describe('when an upload does not match its digest', () => {
      it('rejects it with DIGEST_INVALID and stores nothing', async () => {
        const blob = randomBytes(4096);
        const tampered = Buffer.from(blob);
        tampered[0] = tampered[0]! ^ 0xff;
        const before = reg.rootDir ? await listFiles(join(reg.rootDir, 'blobs')).catch(() => []) : [];
        const mono = await fetch(`${reg.url}/v2/tamper/blobs/uploads/?digest=${digestOf(blob)}`, { method: 'POST', body: tampered });
        expect(mono.status).toBe(400);
        expect(await errorCode(mono)).toBe('DIGEST_INVALID');
        const start = await fetch(`${reg.url}/v2/tamper/blobs/uploads/`, { method: 'POST' });
        const put = await fetch(`${reg.url}${start.headers.get('location')!}?digest=${digestOf(blob)}`, { method: 'PUT', body: tampered });
        expect(await errorCode(put)).toBe('DIGEST_INVALID');
        for (const d of [digestOf(blob), digestOf(tampered)]) {
          expect((await fetch(`${reg.url}/v2/tamper/blobs/${d}`, { method: 'HEAD' })).status).toBe(404);
        }
        if (reg.rootDir) {
          expect(await listFiles(join(reg.rootDir, 'blobs'))).toEqual(before);
          expect(await listFiles(join(reg.rootDir, '_uploads'))).toEqual([]);
        }
      });

      it('rejects a manifest put by a digest that is not its own', async () => {
        const wrong = digestOf('something else');
        const res = await fetch(`${reg.url}/v2/team/app/manifests/${wrong}`, {
          method: 'PUT',
          body: image.manifest,
          headers: { 'Content-Type': MediaType.OciManifest },
        });
        expect(await errorCode(res)).toBe('DIGEST_INVALID');
        expect((await fetch(`${reg.url}/v2/team/app/manifests/${wrong}`, { method: 'HEAD' })).status).toBe(404);
      });
    });

    it('rejects manifests that are invalid or reference unknown blobs', async () => {
      const put = (body: string | Buffer, type: string = MediaType.OciManifest): Promise<Response> =>
        fetch(`${reg.url}/v2/team/app/manifests/bad`, { method: 'PUT', body, headers: { 'Content-Type': type } });
      expect(await errorCode(await put('{not json'))).toBe('MANIFEST_INVALID');
      expect(await errorCode(await put(image.manifest, MediaType.DockerManifest))).toBe('MANIFEST_INVALID');
      expect(await errorCode(await put(makeImage([10]).manifest))).toBe('MANIFEST_BLOB_UNKNOWN');
      const huge = await put(Buffer.alloc(100 * 1024, 0x20));
      expect(huge.status).toBe(413);
      expect(await errorCode(huge)).toBe('SIZE_INVALID');
    });

    it('rejects blobs over the size limit with 413 SIZE_INVALID', async () => {
      const big = randomBytes(1024 * 1024 + 1);
      const res = await fetch(`${reg.url}/v2/big/blobs/uploads/?digest=${digestOf(big)}`, { method: 'POST', body: big });
      expect(res.status).toBe(413);
      expect(await errorCode(res)).toBe('SIZE_INVALID');
    });

    it('lists tags with pagination and a Link header', async () => {
      for (const tag of ['a', 'b', 'c']) {
        await fetch(`${reg.url}/v2/paged/manifests/${tag}`, { method: 'PUT', body: image.manifest, headers: { 'Content-Type': MediaType.OciManifest } });
      }
      expect((await fetch(`${reg.url}/v2/paged/manifests/a`, { method: 'PUT', body: image.manifest, headers: { 'Content-Type': MediaType.OciManifest } })).status).toBe(400);
      await pushImage(reg.url, 'paged', image, 'a');
      await pushImage(reg.url, 'paged', image, 'b');
      await pushImage(reg.url, 'paged', image, 'c');
      const first = await fetch(`${reg.url}/v2/paged/tags/list?n=2`);
      expect(await first.json()).toEqual({ name: 'paged', tags: ['a', 'b'] });
      expect(first.headers.get('link')).toBe('</v2/paged/tags/list?n=2&last=b>; rel="next"');
      const second = await fetch(`${reg.url}/v2/paged/tags/list?n=2&last=b`);
      expect(await second.json()).toEqual({ name: 'paged', tags: ['c'] });
      expect(second.headers.get('link')).toBeNull();
      const catalog = await fetch(`${reg.url}/v2/_catalog?n=1`);
      expect(((await catalog.json()) as { repositories: string[] }).repositories).toHaveLength(1);
      expect(catalog.headers.get('link')).toContain('rel="next"');
    });

    it('serves referrers with an artifactType filter and sets OCI-Subject on push', async () => {
      const subject = { mediaType: MediaType.OciManifest, digest: image.manifestDigest, size: image.manifest.length };
      const sig = makeImage([10], { artifactType: 'application/vnd.example.sig', subject });
      const sbom = makeImage([20], { artifactType: 'application/vnd.example.sbom', subject });
      for (const art of [sig, sbom]) {
        for (const blob of [art.config, ...art.layers]) {
          await fetch(`${reg.url}/v2/team/app/blobs/uploads/?digest=${digestOf(blob)}`, { method: 'POST', body: blob });
        }
        const res = await fetch(`${reg.url}/v2/team/app/manifests/${art.manifestDigest}`, {
          method: 'PUT',
          body: art.manifest,
          headers: { 'Content-Type': MediaType.OciManifest },
        });
        expect(res.status).toBe(201);
        expect(res.headers.get('oci-subject')).toBe(image.manifestDigest);
      }
      const all = (await (await fetch(`${reg.url}/v2/team/app/referrers/${image.manifestDigest}`)).json()) as { manifests: unknown[] };
      expect(all.manifests).toHaveLength(2);
      const filtered = await fetch(`${reg.url}/v2/team/app/referrers/${image.manifestDigest}?artifactType=application/vnd.example.sig`);
      expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
      expect(((await filtered.json()) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest)).toEqual([sig.manifestDigest]);
    });

    it('deletes manifests and blobs', async () => {
      const img = makeImage([100]);
      await pushImage(reg.url, 'deleting', img);
      expect((await fetch(`${reg.url}/v2/deleting/manifests/${img.manifestDigest}`, { method: 'DELETE' })).status).toBe(202);
      expect((await fetch(`${reg.url}/v2/deleting/manifests/v1`, { method: 'HEAD' })).status).toBe(404);
      const layer = digestOf(img.layers[0]!);
      expect((await fetch(`${reg.url}/v2/deleting/blobs/${layer}`, { method: 'DELETE' })).status).toBe(202);
      expect((await fetch(`${reg.url}/v2/deleting/blobs/${layer}`, { method: 'HEAD' })).status).toBe(404);
    });

    it('counts requests by kind and exposes them as OpenMetrics', async () => {
      reg.resetStats();
      await fetch(`${reg.url}/v2/team/app/manifests/v1`, { method: 'HEAD' });
      await (await fetch(`${reg.url}/v2/team/app/manifests/v1`)).arrayBuffer();
      const stats = reg.stats();
      expect(stats).toMatchObject({ manifestHead: 1, manifestGet: 1, bytesServed: image.manifest.length });
      const text = await (await fetch(`${reg.url}/metrics`)).text();
      expect(text).toContain('pullbench_registry_requests_total{kind="manifest_get"} 1');
      expect(text.trimEnd().endsWith('# EOF')).toBe(true);
    });
  });
}

describe('when requests are malformed', () => {
  let reg: RunningRegistryServer;
  beforeAll(async () => {
    reg = await startRegistryServer({ storage: 'memory' });
    await pushImage(reg.url, 'ok', makeImage([10]));
  });
  afterAll(async () => reg.close());

  it('answers bad names, traversal and bad digests with 4xx and an OCI error code', async () => {
    const cases: Array<[string, string]> = [
      ['/v2/UPPER/manifests/v1', 'NAME_INVALID'],
      ['/v2/../etc/manifests/v1', 'NAME_INVALID'],
      ['/v2/%2e%2e/manifests/v1', 'NAME_INVALID'],
      ['/v2/ok/blobs/sha256:xyz', 'DIGEST_INVALID'],
      ['/v2/ok/blobs/sha256:' + 'a'.repeat(63), 'DIGEST_INVALID'],
      ['/v2/ok/manifests/..%2f..%2fetc', 'MANIFEST_INVALID'],
      ['/v2/ok/blobs/uploads/../../x', 'BLOB_UPLOAD_UNKNOWN'],
    ];
    for (const [path, code] of cases) {
      const res = await rawGet(reg.url, path);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
      expect((JSON.parse(res.body) as { errors: Array<{ code: string }> }).errors[0]!.code, path).toBe(code);
    }
  });

  it('answers a huge header with 431 and keeps serving', async () => {
    const res = await fetch(`${reg.url}/v2/`, { headers: { 'X-Big': 'a'.repeat(64 * 1024) } });
    expect(res.status).toBe(431);
    expect((await fetch(`${reg.url}/v2/`)).status).toBe(200);
  });

  it('survives random paths, methods and bodies', async () => {
    const methods = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS'];
    const pieces = ['v2', 'ok', 'manifests', 'blobs', 'uploads', 'tags', 'list', 'referrers', '..', '%00', '%2e', 'sha256:', digestOf('x'), '', '_catalog', 'a'.repeat(300)];
    const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
    for (let i = 0; i < 300; i++) {
      const path = '/' + Array.from({ length: 1 + Math.floor(Math.random() * 6) }, () => pick(pieces)).join('/');
      const method = pick(methods);
      const body = method === 'GET' || method === 'HEAD' ? undefined : randomBytes(Math.floor(Math.random() * 2000));
      const headers: Record<string, string> = {};
      if (Math.random() < 0.3) headers['Content-Range'] = pick(['0-10', 'x-y', '5-1', '-', 'bytes=0-']);
      if (Math.random() < 0.3) headers.Range = pick(['bytes=0-', 'bytes=abc', 'bytes=-0', 'bytes=5-1']);
      const res = await fetch(`${reg.url}${path}?digest=${pick(['', 'sha256:1', digestOf('x')])}&n=${pick(['1', '-1', 'x'])}`, { method, body: body ?? null, headers });
      expect(res.status, `${method} ${path}`).toBeLessThan(500);
      await res.arrayBuffer();
    }
    expect((await fetch(`${reg.url}/v2/ok/manifests/v1`, { method: 'HEAD' })).status).toBe(200);
  });
});

describe('listening socket', () => {
  const somaxconn = existsSync('/proc/sys/net/core/somaxconn') ? Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()) : 0;
  // Where the kernel caps the backlog at 511 or below, ours and Node's default look the same.
  it.skipIf(somaxconn <= 511 || !findTool('ss'))('asks the kernel for a backlog of LISTEN_BACKLOG (capped by somaxconn), not Node default 511', async () => {
    const server = await startRegistryServer({ storage: 'memory' });
    try {
      // For a listening socket, ss reports the accept-queue limit in the Send-Q column.
      const { stdout } = await promisify(execFile)('ss', ['-Hltn', `sport = :${server.port}`]);
      const sendQ = Number(stdout.trim().split(/\s+/)[2]);
      expect(sendQ).toBe(Math.min(LISTEN_BACKLOG, somaxconn));
    } finally {
      await server.close();
    }
  });
});
