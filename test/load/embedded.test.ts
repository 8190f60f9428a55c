import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { prepareLoad, renderLoadResult, type LoadProfile, type LoadResult } from '../../src/load/index.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { startRegistryServer } from '../../src/registry/server.js';
import { makeTempDir } from '../../src/util/temp.js';
import { seedImage, seedIndex } from './helpers.js';

const USER = { username: 'loader', password: 'pa55-load-secret' };

function secretsAbsent(result: LoadResult, ...secrets: string[]): void {
  const text = JSON.stringify(result) + renderLoadResult(result);
  for (const s of secrets) expect(text).not.toContain(s);
}

describe('pullbench load against the embedded registry with token auth', () => {
  let registry: StartedRegistry;

  beforeAll(async () => {
    registry = await embeddedRegistry.start({ storage: 'memory', auth: 'token', users: [USER] });
    await seedImage(registry.url, 'team/app', 'v1', [64 * 1024, 4096, 1024], USER);
  });
  afterAll(async () => {
    await registry?.[Symbol.asyncDispose]();
  });

  // amount-bounded runs complete every request, so the registry's counters must match exactly.
  const cases: Array<[LoadProfile, (r: LoadResult) => Record<string, number>]> = [
    ['manifest-head', (r) => ({ manifestHead: r.requests.total, manifestGet: 0, blobGet: 0, token: 0 })],
    ['manifest-get', (r) => ({ manifestHead: 0, manifestGet: r.requests.total, blobGet: 0, token: 0 })],
    ['blob-get', (r) => ({ manifestHead: 0, manifestGet: 0, blobGet: r.requests.total, token: 0 })],
    ['token', (r) => ({ manifestHead: 0, manifestGet: 0, blobGet: 0, token: r.requests.total })],
  ];
  for (const [profile, expected] of cases) {
    it(`${profile}: the registry counts exactly the requests sent, all answered 2xx`, async () => {
      const load = await prepareLoad({ registry: registry.url, image: 'team/app:v1', profile, connections: 8, amount: 400, credentials: USER });
      expect(load.auth).toBe('bearer');
      registry.resetStats();
      const result = await load.run();
      expect(result.requests.total).toBe(400);
      expect(result.errors).toBe(0);
      expect(result.non2xx).toEqual({});
      const stats = registry.stats();
      expect({ manifestHead: stats.manifestHead, manifestGet: stats.manifestGet, blobGet: stats.blobGet, token: stats.token }).toEqual(expected(result));
      expect(result.latencyMs.p99).toBeGreaterThanOrEqual(result.latencyMs.p50);
      secretsAbsent(result, USER.password);
    });
  }

  it('blob-get spreads GETs over the layers and reads their bytes', async () => {
    const load = await prepareLoad({ registry: registry.url, image: 'team/app:v1', profile: 'blob-get', connections: 3, amount: 300, credentials: USER });
    const result = await load.run();
    expect(result.byKind.blobGet?.ok).toBe(300);
    // 100 of each layer (64 KiB + 4 KiB + 1 KiB), plus response headers.
    expect(result.throughput.bytes).toBeGreaterThan(100 * (64 * 1024 + 4096 + 1024));
    expect(result.image.layers).toBe(3);
  });

  it('mix sends what a cold pull sends: 1 HEAD, 1 manifest GET, config + layer GETs, in proportion', async () => {
    const load = await prepareLoad({ registry: registry.url, image: 'team/app:v1', profile: 'mix', connections: 2, amount: 120, credentials: USER });
    registry.resetStats();
    const result = await load.run();
    // Weights 1:1:4 per connection cycle of 6 requests; 2 connections x 60 requests = 10 full cycles each.
    expect(result.byKind.manifestHead?.requests).toBe(20);
    expect(result.byKind.manifestGet?.requests).toBe(20);
    expect(result.byKind.blobGet?.requests).toBe(80);
    const stats = registry.stats();
    expect([stats.manifestHead, stats.manifestGet, stats.blobGet, stats.token]).toEqual([20, 20, 80, 0]);
  });

  it('a mix with token requests counts them by kind too', async () => {
    const load = await prepareLoad({
      registry: registry.url,
      image: 'team/app:v1',
      profile: 'mix',
      mix: { manifestHead: 2, manifestGet: 1, blobGet: 0, token: 1 },
      connections: 4,
      amount: 400,
      credentials: USER,
    });
    registry.resetStats();
    const result = await load.run();
    const stats = registry.stats();
    expect(result.byKind.token?.ok).toBe(100);
    expect([stats.manifestHead, stats.manifestGet, stats.token]).toEqual([200, 100, 100]);
  });

  it('refuses wrong credentials with a clear error that does not echo them', async () => {
    const err = await prepareLoad({ registry: registry.url, image: 'team/app:v1', profile: 'manifest-get', credentials: { username: 'loader', password: 'wrong-Pw-123' } }).catch((e: unknown) => e);
    expect(isPullbenchError(err, 'REGISTRY_UNAUTHORIZED')).toBe(true);
    expect(JSON.stringify(err) + String(err)).not.toContain('wrong-Pw-123');
  });
});

describe('pullbench load stopped from outside', () => {
  it('an aborted storm ends early and reports what was sent', async () => {
    await using server = await startRegistryServer({ storage: 'memory' });
    await seedImage(server.url, 'app', 'v1', [1024]);
    const load = await prepareLoad({ registry: server.url, image: 'app:v1', profile: 'manifest-head', connections: 2, durationSeconds: 60 });
    const started = Date.now();
    const result = await load.run({ signal: AbortSignal.timeout(800) });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.requests.total).toBeGreaterThan(0);
    expect(result.durationSeconds).toBeLessThan(10);
  });
});

describe('pullbench load when the token expires during the storm', () => {
  it('refreshes the bearer token before expiry, so no request is refused', async () => {
    await using server = await startRegistryServer({ storage: 'memory', auth: 'token', users: [USER], tokenTtlSeconds: 3 });
    await seedImage(server.url, 'app', 'v1', [1024], USER);
    const load = await prepareLoad({ registry: server.url, image: 'app:v1', profile: 'manifest-head', connections: 2, rate: 100, durationSeconds: 6.5, credentials: USER });
    const result = await load.run();
    expect(result.tokenRefreshes).toBeGreaterThanOrEqual(2);
    expect(result.non2xx).toEqual({});
    // --rate 100 for 6.5 s holds the storm near 650 requests.
    expect(result.byKind.manifestHead?.ok).toBeGreaterThan(400);
    expect(result.byKind.manifestHead?.ok).toBeLessThan(800);
    expect(result.warnings).toBeUndefined();
  });
});

describe('pullbench load against an index', () => {
  it('follows the index to the requested platform', async () => {
    await using server = await startRegistryServer({ storage: 'memory' });
    const seeded = await seedIndex(server.url, 'multi', 'v1');
    const load = await prepareLoad({ registry: server.url, image: 'multi:v1', profile: 'mix', platform: 'linux/arm64', connections: 1, amount: 10 });
    expect(load.auth).toBe('none');
    expect(load.target.manifestChain).toEqual([seeded.indexDigest, seeded.arm64]);
    expect(load.target.layers).toHaveLength(2);
    server.resetStats();
    const result = await load.run();
    // Cycle: HEAD, GET index, GET manifest, GET config, 2 layer GETs (weights 1:2:3) -> 10 requests.
    expect(result.byKind).toMatchObject({ manifestHead: { ok: 2 }, manifestGet: { ok: 3 }, blobGet: { ok: 5 } });
    expect(server.stats().manifestGet).toBe(3);
  });

  it('says which platforms exist when the requested one does not', async () => {
    await using server = await startRegistryServer({ storage: 'memory' });
    await seedIndex(server.url, 'multi', 'v1');
    const err = await prepareLoad({ registry: server.url, image: 'multi:v1', profile: 'mix', platform: 'linux/s390x' }).catch((e: unknown) => e);
    expect(isPullbenchError(err, 'PLATFORM_NOT_FOUND')).toBe(true);
  });
});

describe('pullbench load when the registry pushes back', () => {
  it('counts 429s separately when the rate limit is on', async () => {
    await using server = await startRegistryServer({ storage: 'memory', rateLimit: { manifestGets: 50, windowMs: 60_000 } });
    await seedImage(server.url, 'app', 'v1', [1024]);
    const load = await prepareLoad({ registry: server.url, image: 'app:v1', profile: 'manifest-get', connections: 4, amount: 200 });
    const result = await load.run();
    // Discovery spent one GET of the window.
    expect(result.byKind.manifestGet?.ok).toBe(49);
    expect(result.tooManyRequests).toBe(151);
    expect(result.non2xx).toEqual({ '429': 151 });
    expect(server.stats().tooManyRequests).toBe(151);
  });

  it('counts injected 503s as non-2xx and slow answers as timeouts', async () => {
    await using root = await makeTempDir('pullbench-load-faults-');
    await using faulty = await seededWithFaults(root.path, { errorRate: 0.5 });
    const load = await prepareRetrying(faulty.url);
    const result = await load.run();
    const failed = result.non2xx['503'] ?? 0;
    expect(failed + (result.byKind.manifestGet?.ok ?? 0)).toBe(400);
    expect(failed).toBeGreaterThan(120);
    expect(failed).toBeLessThan(280);

    await using slowRoot = await makeTempDir('pullbench-load-slow-');
    await using slow = await seededWithFaults(slowRoot.path, { latencyMs: 1500 });
    const slowLoad = await prepareLoad({ registry: slow.url, image: 'app:v1', profile: 'manifest-head', connections: 2, durationSeconds: 2.5, timeoutSeconds: 1 });
    const slowResult = await slowLoad.run();
    expect(slowResult.timeouts).toBeGreaterThanOrEqual(2);
    expect(slowResult.errors).toBeGreaterThanOrEqual(slowResult.timeouts);
  });
});

// Seeds without faults, then serves the same storage with faults on.
async function seededWithFaults(rootDir: string, faults: { errorRate?: number; latencyMs?: number }): Promise<Awaited<ReturnType<typeof startRegistryServer>>> {
  const clean = await startRegistryServer({ rootDir });
  await seedImage(clean.url, 'app', 'v1', [1024]);
  await clean.close();
  return startRegistryServer({ rootDir, faults });
}

// With half the requests failing, discovery is retried until it gets through.
async function prepareRetrying(url: string): Promise<Awaited<ReturnType<typeof prepareLoad>>> {
  for (let i = 0; ; i++) {
    try {
      return await prepareLoad({ registry: url, image: 'app:v1', profile: 'manifest-get', connections: 4, amount: 400 });
    } catch (err) {
      if (i > 40) throw err;
    }
  }
}
