import { afterAll, beforeAll, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { prepareLoad, renderLoadResult, type LoadProfile } from '../../src/load/index.js';
import { describeWithTools } from '../helpers/interop.js';
import { eventually, seedImage, startLoggedDistribution, type LoggedDistribution } from './helpers.js';

const USER = { username: 'storm', password: 'Distrib-pa55-xyz' };

describeWithTools(['docker-registry'], "pullbench load against Debian's docker-registry (distribution 2.8) with Basic auth", () => {
  let registry: LoggedDistribution;
  let seeded: Awaited<ReturnType<typeof seedImage>>;

  beforeAll(async () => {
    registry = await startLoggedDistribution([USER]);
    seeded = await seedImage(registry.url, 'team/app', 'v1', [32 * 1024, 2048], USER);
  });
  afterAll(async () => {
    await registry?.[Symbol.asyncDispose]();
  });

  const expectations: Array<[LoadProfile, string, (path: string) => boolean]> = [
    ['manifest-head', 'HEAD', (p) => p === '/v2/team/app/manifests/v1'],
    ['manifest-get', 'GET', (p) => p === '/v2/team/app/manifests/v1'],
    ['blob-get', 'GET', (p) => p.startsWith('/v2/team/app/blobs/')],
  ];
  for (const [profile, method, matches] of expectations) {
    it(`${profile}: every request reaches the registry, answered 200, and its access log agrees`, async () => {
      const load = await prepareLoad({ registry: registry.url, image: 'team/app:v1', profile, connections: 6, amount: 300, credentials: USER });
      expect(load.auth).toBe('basic');
      const before = (await registry.requests()).length;
      const result = await load.run();
      expect(result.requests.total).toBe(300);
      expect(result.errors).toBe(0);
      expect(result.non2xx).toEqual({});
      const logged = await eventually(
        async () => (await registry.requests()).slice(before),
        (l) => l.length >= 300,
      );
      expect(logged).toHaveLength(300);
      expect(logged.every((r) => r.method === method && matches(r.path) && r.status === 200)).toBe(true);
      if (profile === 'blob-get') expect(new Set(logged.map((r) => r.path))).toEqual(new Set(seeded.layers.map((d) => `/v2/team/app/blobs/${d}`)));
      expect(JSON.stringify(result) + renderLoadResult(result)).not.toContain(USER.password);
    });
  }

  it('mix: HEAD, manifest GET by digest, config and layer GETs in the pull\'s proportions', async () => {
    const load = await prepareLoad({ registry: registry.url, image: 'team/app:v1', profile: 'mix', connections: 2, amount: 100, credentials: USER });
    const before = (await registry.requests()).length;
    const result = await load.run();
    expect(result.byKind).toMatchObject({ manifestHead: { ok: 20 }, manifestGet: { ok: 20 }, blobGet: { ok: 60 } });
    const logged = await eventually(async () => (await registry.requests()).slice(before), (l) => l.length >= 100);
    expect(logged.filter((r) => r.method === 'HEAD')).toHaveLength(20);
    expect(logged.filter((r) => r.path === `/v2/team/app/manifests/${seeded.manifestDigest}`)).toHaveLength(20);
    expect(logged.filter((r) => r.path.includes('/blobs/'))).toHaveLength(60);
  });

  it('token: refused, because distribution with htpasswd has no token endpoint', async () => {
    const err = await prepareLoad({ registry: registry.url, image: 'team/app:v1', profile: 'token', credentials: USER }).catch((e: unknown) => e);
    expect(isPullbenchError(err, 'INVALID_ARGUMENT')).toBe(true);
  });

  it('without credentials: discovery says authentication is required', async () => {
    const err = await prepareLoad({ registry: registry.url, image: 'team/app:v1', profile: 'manifest-get' }).catch((e: unknown) => e);
    expect(isPullbenchError(err, 'REGISTRY_UNAUTHORIZED')).toBe(true);
  });
});
