import { afterEach, describe, expect, it } from 'vitest';
import { text } from 'node:stream/consumers';
import { RegistryClient } from '../../src/oci/client.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { isPullbenchError } from '../../src/errors.js';
import { json, startFakeRegistry, type FakeRegistry } from './helpers/fake-registry.js';

const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: {}, layers: [] }));
const manifestDigest = digestOf(manifest);

async function caught(p: Promise<unknown>): Promise<{ code?: string; details?: Record<string, unknown>; json: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isPullbenchError(err)) throw new Error(`expected a PullbenchError, got ${String(err)}`);
  return { code: err.code, details: err.details, json: JSON.stringify({ ...err.toJSON(), cause: String(err.cause) }) };
}

let fake: FakeRegistry | undefined;
afterEach(async () => {
  await fake?.[Symbol.asyncDispose]();
  fake = undefined;
});

describe('RegistryClient resolve', () => {
  it('falls back to GET when HEAD gets 405, and computes the digest from the bytes', async () => {
    fake = await startFakeRegistry((req, res) => {
      if (req.method === 'HEAD') return void res.writeHead(405).end();
      res.writeHead(200, { 'content-type': MediaType.OciManifest }).end(manifest);
    });
    const desc = await new RegistryClient({ baseUrl: fake.url }).resolve('app', 'v1');
    expect(desc).toEqual({ mediaType: MediaType.OciManifest, digest: manifestDigest, size: manifest.length });
    expect(fake.requests.map((r) => r.method)).toEqual(['HEAD', 'GET']);
    expect(fake.requests[0]!.accept).toContain(MediaType.OciIndex);
    expect(fake.requests[0]!.accept).toContain(MediaType.DockerManifestList);
  });

  it('falls back to GET when HEAD has no Docker-Content-Digest', async () => {
    fake = await startFakeRegistry((req, res) => {
      res.writeHead(200, { 'content-type': `${MediaType.DockerManifest}; charset=utf-8`, 'content-length': manifest.length });
      res.end(req.method === 'HEAD' ? undefined : manifest);
    });
    const desc = await new RegistryClient({ baseUrl: fake.url }).resolve('app', 'v1');
    expect(desc).toEqual({ mediaType: MediaType.DockerManifest, digest: manifestDigest, size: manifest.length });
    expect(fake.requests.map((r) => r.method)).toEqual(['HEAD', 'GET']);
  });

  it('uses HEAD alone when the registry answers with the digest', async () => {
    fake = await startFakeRegistry((_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.OciIndex, 'content-length': 1234, 'docker-content-digest': manifestDigest }).end();
    });
    const desc = await new RegistryClient({ baseUrl: fake.url }).resolve('app', 'v1');
    expect(desc).toEqual({ mediaType: MediaType.OciIndex, digest: manifestDigest, size: 1234 });
    expect(fake.requests).toHaveLength(1);
  });

  it('rejects a manifest fetched by digest whose bytes do not match', async () => {
    fake = await startFakeRegistry((_req, res) => res.writeHead(200, { 'content-type': MediaType.OciManifest }).end(Buffer.from('{"tampered":true}')));
    expect((await caught(new RegistryClient({ baseUrl: fake.url }).getManifest('app', manifestDigest))).code).toBe('DIGEST_MISMATCH');
  });

  it('rejects a tag whose bytes disagree with Docker-Content-Digest', async () => {
    fake = await startFakeRegistry((_req, res) =>
      res.writeHead(200, { 'content-type': MediaType.OciManifest, 'docker-content-digest': digestOf('other') }).end(manifest),
    );
    expect((await caught(new RegistryClient({ baseUrl: fake.url }).getManifest('app', 'v1'))).code).toBe('DIGEST_MISMATCH');
  });

  it('refuses an invalid tag or digest before asking the registry', async () => {
    const client = new RegistryClient({ baseUrl: 'http://127.0.0.1:1' });
    expect((await caught(client.resolve('app', '../../etc'))).code).toBe('INVALID_ARGUMENT');
    expect((await caught(client.getManifest('app', 'sha256:abc'))).code).toBe('INVALID_DIGEST');
  });
});

describe('RegistryClient blobs', () => {
  it('errors the stream with DIGEST_MISMATCH when a blob was tampered with', async () => {
    const good = Buffer.from('the real layer');
    fake = await startFakeRegistry((_req, res) => res.writeHead(200, { 'content-length': good.length }).end(Buffer.from('the fake layer')));
    const blob = await new RegistryClient({ baseUrl: fake.url }).getBlob('app', digestOf(good));
    expect((await caught(text(blob.body))).code).toBe('DIGEST_MISMATCH');
  });

  it('passes a good blob through unchanged', async () => {
    const good = Buffer.from('the real layer');
    fake = await startFakeRegistry((_req, res) => res.writeHead(200, { 'content-length': good.length }).end(good));
    const blob = await new RegistryClient({ baseUrl: fake.url }).getBlob('app', digestOf(good));
    expect(blob.size).toBe(good.length);
    expect(await text(blob.body)).toBe('the real layer');
  });

  it('uploads when a mount is answered with 202 and an upload location', async () => {
    const data = Buffer.from('mount me');
    fake = await startFakeRegistry((req, res) => {
      if (req.method === 'HEAD') return void res.writeHead(404).end();
      if (req.method === 'POST') return void res.writeHead(202, { location: '/v2/app/blobs/uploads/u1?_state=x' }).end();
      if (req.method === 'PUT') return void res.writeHead(201, { 'docker-content-digest': digestOf(data) }).end();
      res.writeHead(500).end();
    });
    const desc = await new RegistryClient({ baseUrl: fake.url }).pushBlob('app', data, { mountFrom: 'other' });
    expect(desc.digest).toBe(digestOf(data));
    expect(fake.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      `HEAD /v2/app/blobs/${digestOf(data)}`,
      `POST /v2/app/blobs/uploads/?mount=${encodeURIComponent(digestOf(data))}&from=other`,
      `PUT /v2/app/blobs/uploads/u1?_state=x&digest=${encodeURIComponent(digestOf(data))}`,
    ]);
  });

  it('cancels the upload session when an upload fails', async () => {
    fake = await startFakeRegistry((req, res) => {
      if (req.method === 'HEAD') return void res.writeHead(404).end();
      if (req.method === 'POST') return void res.writeHead(202, { location: '/v2/app/blobs/uploads/u9' }).end();
      if (req.method === 'PATCH') return json(res, 500, { errors: [{ code: 'UNKNOWN' }] });
      res.writeHead(204).end();
    });
    const err = await caught(new RegistryClient({ baseUrl: fake.url }).pushBlob('app', Buffer.from('data'), { chunkSize: 2 }));
    expect(err.code).toBe('REGISTRY_ERROR');
    expect(fake.requests.map((r) => `${r.method} ${r.url}`).slice(-2)).toEqual(['PATCH /v2/app/blobs/uploads/u9', 'DELETE /v2/app/blobs/uploads/u9']);
  });

  it('refuses to push a buffer that does not match the digest it is given', async () => {
    const client = new RegistryClient({ baseUrl: 'http://127.0.0.1:1' });
    expect((await caught(client.pushBlob('app', Buffer.from('a'), { digest: digestOf('b') }))).code).toBe('DIGEST_MISMATCH');
    expect((await caught(client.pushBlob('app', Buffer.from('a'), { size: 2 }))).code).toBe('SIZE_MISMATCH');
  });
});

describe('RegistryClient auth', () => {
  const creds = { username: 'alice', password: 'S3cret-pa55' };

  function tokenRegistry(opts: { token?: string; field?: 'token' | 'access_token' } = {}): Promise<FakeRegistry> {
    return startFakeRegistry((req, res) => {
      const base = `http://${req.headers.host}`;
      if (req.url?.startsWith('/token')) {
        const ok = req.headers.authorization === `Basic ${Buffer.from('alice:S3cret-pa55').toString('base64')}`;
        if (!ok) return json(res, 401, { errors: [{ code: 'UNAUTHORIZED' }] });
        const scope = new URL(req.url, base).searchParams.getAll('scope').join(' ');
        return json(res, 200, { [opts.field ?? 'token']: `${opts.token ?? 'tok'}|${scope}` });
      }
      const repo = /^\/v2\/(.+)\/manifests\//.exec(req.url ?? '')?.[1] ?? '';
      if (!req.headers.authorization?.startsWith(`Bearer ${opts.token ?? 'tok'}|repository:${repo}:pull`)) {
        return json(res, 401, { errors: [{ code: 'UNAUTHORIZED' }] }, {
          'www-authenticate': `Bearer realm="${base}/token",service="fake.registry",scope="repository:${repo}:pull"`,
        });
      }
      res.writeHead(200, { 'content-type': MediaType.OciManifest }).end(manifest);
    });
  }

  it('answers a Bearer challenge with a token for the scope, cached for the life of the client', async () => {
    fake = await tokenRegistry();
    const client = new RegistryClient({ baseUrl: fake.url, credentials: creds });
    await client.getManifest('team/app', 'v1');
    await client.getManifest('team/app', 'v2');
    await client.getManifest('team/other', 'v1');
    const seen = fake.requests.map((r) => `${r.method} ${r.url.split('?')[0]} ${r.authorization?.split(' ')[0] ?? '-'}`);
    expect(seen).toEqual([
      'GET /v2/team/app/manifests/v1 -',
      'GET /token Basic',
      'GET /v2/team/app/manifests/v1 Bearer',
      'GET /v2/team/app/manifests/v2 Bearer',
      'GET /v2/team/other/manifests/v1 -',
      'GET /token Basic',
      'GET /v2/team/other/manifests/v1 Bearer',
    ]);
    const tokenUrl = new URL(fake.requests[1]!.url, fake.url);
    expect(tokenUrl.searchParams.get('service')).toBe('fake.registry');
    expect(tokenUrl.searchParams.getAll('scope')).toEqual(['repository:team/app:pull']);
  });

  it('accepts access_token as well as token', async () => {
    fake = await tokenRegistry({ field: 'access_token' });
    const got = await new RegistryClient({ baseUrl: fake.url, credentials: creds }).getManifest('app', 'v1');
    expect(got.bytes.equals(manifest)).toBe(true);
  });

  it('fails with REGISTRY_UNAUTHORIZED on wrong credentials, without leaking them', async () => {
    fake = await tokenRegistry();
    const err = await caught(new RegistryClient({ baseUrl: fake.url, credentials: { username: 'alice', password: 'wrong-Secret-9' } }).getManifest('app', 'v1'));
    expect(err.code).toBe('REGISTRY_UNAUTHORIZED');
    expect(err.details?.status).toBe(401);
    expect(err.json).not.toContain('wrong-Secret-9');
    expect(err.json).not.toContain(Buffer.from('alice:wrong-Secret-9').toString('base64'));
  });

  it('uses Basic when the registry asks for it, and reuses it', async () => {
    const expected = `Basic ${Buffer.from('alice:S3cret-pa55').toString('base64')}`;
    fake = await startFakeRegistry((req, res) => {
      if (req.headers.authorization !== expected) return json(res, 401, { errors: [{ code: 'UNAUTHORIZED' }] }, { 'www-authenticate': 'Basic realm="fake"' });
      res.writeHead(200, { 'content-type': MediaType.OciManifest }).end(manifest);
    });
    const client = new RegistryClient({ baseUrl: fake.url, credentials: creds });
    await client.getManifest('a', 'v1');
    await client.getManifest('b', 'v1');
    expect(fake.requests.map((r) => r.authorization?.split(' ')[0] ?? '-')).toEqual(['-', 'Basic', 'Basic']);
  });

  it('fails with REGISTRY_UNAUTHORIZED when a Basic challenge comes and there are no credentials', async () => {
    fake = await startFakeRegistry((_req, res) => json(res, 401, { errors: [{ code: 'UNAUTHORIZED' }] }, { 'www-authenticate': 'Basic realm="fake"' }));
    expect((await caught(new RegistryClient({ baseUrl: fake.url }).resolve('a', 'v1'))).code).toBe('REGISTRY_UNAUTHORIZED');
    expect(fake.requests).toHaveLength(1);
  });
});

describe('RegistryClient errors', () => {
  it.each([
    [403, { errors: [{ code: 'DENIED' }] }, 'REGISTRY_DENIED'],
    [429, { errors: [{ code: 'TOOMANYREQUESTS' }] }, 'REGISTRY_TOO_MANY_REQUESTS'],
    [404, { errors: [{ code: 'NAME_UNKNOWN' }] }, 'MANIFEST_UNKNOWN'],
    [500, 'oops', 'REGISTRY_ERROR'],
    [503, { errors: [{ code: 'UNAVAILABLE' }] }, 'REGISTRY_ERROR'],
  ])('maps %i to its code with details.status', async (status, body, code) => {
    fake = await startFakeRegistry((_req, res) => json(res, status, body, status === 429 ? { 'retry-after': '30' } : {}));
    const err = await caught(new RegistryClient({ baseUrl: fake.url }).getManifest('app', 'v1'));
    expect(err.code).toBe(code);
    expect(err.details?.status).toBe(status);
    if (status === 429) expect(err.details?.retryAfter).toBe('30');
  });

  it('reports an unreachable registry as REGISTRY_UNREACHABLE', async () => {
    fake = await startFakeRegistry(() => undefined);
    const url = fake.url;
    await fake[Symbol.asyncDispose]();
    fake = undefined;
    expect((await caught(new RegistryClient({ baseUrl: url }).resolve('app', 'v1'))).code).toBe('REGISTRY_UNREACHABLE');
  });

  it('gives up waiting for headers after timeoutMs', async () => {
    fake = await startFakeRegistry(() => undefined);
    const err = await caught(new RegistryClient({ baseUrl: fake.url, timeoutMs: 200 }).resolve('app', 'v1'));
    expect(err.code).toBe('REGISTRY_UNREACHABLE');
    expect(err.details?.timeoutMs).toBe(200);
  });

  it('rejects a base URL with credentials or a strange scheme', () => {
    expect(() => new RegistryClient({ baseUrl: 'http://u:p@127.0.0.1:5000' })).toThrow(/credentials option/);
    expect(() => new RegistryClient({ baseUrl: 'ftp://127.0.0.1' })).toThrow(/http or https/);
  });
});

describe('RegistryClient referrers and tags', () => {
  it('follows Link pages and filters by artifactType when the registry did not', async () => {
    const subject = digestOf('subject');
    const d = (n: string, artifactType: string) => ({ mediaType: MediaType.OciManifest, digest: digestOf(n), size: 1, artifactType });
    fake = await startFakeRegistry((req, res) => {
      if (req.url?.includes('page=2')) return json(res, 200, { schemaVersion: 2, manifests: [d('c', 'sig')] });
      json(res, 200, { schemaVersion: 2, manifests: [d('a', 'sig'), d('b', 'sbom')] }, { link: `</v2/app/referrers/${subject}?page=2>; rel="next"` });
    });
    const client = new RegistryClient({ baseUrl: fake.url });
    expect((await client.referrers('app', subject)).manifests).toHaveLength(3);
    const sigs = await client.referrers('app', subject, 'sig');
    expect(sigs.manifests.map((m) => m.digest)).toEqual([digestOf('a'), digestOf('c')]);
    expect(fake.requests[2]!.url).toBe(`/v2/app/referrers/${subject}?artifactType=sig`);
  });

  it('follows Link pagination for tags', async () => {
    fake = await startFakeRegistry((req, res) => {
      if (req.url?.includes('last=b')) return json(res, 200, { name: 'app', tags: ['c'] });
      json(res, 200, { name: 'app', tags: ['a', 'b'] }, { link: '</v2/app/tags/list?n=2&last=b>; rel="next"' });
    });
    expect(await new RegistryClient({ baseUrl: fake.url }).listTags('app', { pageSize: 2 })).toEqual(['a', 'b', 'c']);
  });
});

describe('RegistryClient for a hosts.toml mirror', () => {
  it('puts the API under apiPath and sends ?ns= on every request', async () => {
    fake = await startFakeRegistry((req, res) => {
      if (req.method === 'HEAD') return void res.writeHead(405).end();
      res.writeHead(200, { 'content-type': MediaType.OciManifest }).end(manifest);
    });
    const client = new RegistryClient({ baseUrl: fake.url, apiPath: '/cache/docker/', namespace: 'docker.io' });
    await client.resolve('library/nginx', 'latest');
    await client.listTags('library/nginx').catch(() => undefined);
    expect(fake.requests.map((r) => r.url)).toEqual([
      '/cache/docker/library/nginx/manifests/latest?ns=docker.io',
      '/cache/docker/library/nginx/manifests/latest?ns=docker.io',
      '/cache/docker/library/nginx/tags/list?ns=docker.io',
    ]);
    await client.close();
  });
});
