import { describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { errorCodeOf } from '../helpers/error-code.js';
import { parseMix, planRequests, renderLoadResult, validateLoadSpec, type ImageTarget, type LoadResult } from '../../src/load/index.js';
import { interleave, mixWeights } from '../../src/load/plan.js';
import { summarize } from '../../src/load/results.js';
import { refreshDelayMs, splitImage, tokenExpiry } from '../../src/load/target.js';
import { MANIFEST_ACCEPT } from '../../src/oci/media-types.js';

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const target: ImageTarget = {
  registry: 'http://127.0.0.1:5000',
  repository: 'team/app',
  reference: 'v1',
  manifestDigest: D('a'),
  manifestChain: [D('a')],
  config: { digest: D('c'), size: 100 },
  layers: [
    { digest: D('1'), size: 1000 },
    { digest: D('2'), size: 2000 },
  ],
  tokenUrl: new URL('http://127.0.0.1:5000/token?service=reg&scope=repository%3Ateam%2Fapp%3Apull'),
};


describe('planRequests', () => {
  it('manifest-head HEADs the tag with containerd\'s Accept header', () => {
    const { origin, requests } = planRequests('manifest-head', target);
    expect(origin).toBe('http://127.0.0.1:5000');
    expect(requests).toEqual([{ kind: 'manifestHead', method: 'HEAD', path: '/v2/team/app/manifests/v1', headers: expect.objectContaining({ accept: MANIFEST_ACCEPT }) }]);
  });

  it('blob-get cycles over the layers (not the config)', () => {
    const { requests } = planRequests('blob-get', target);
    expect(requests.map((r) => r.path)).toEqual([`/v2/team/app/blobs/${D('1')}`, `/v2/team/app/blobs/${D('2')}`]);
  });

  it('token GETs the realm with service and scope, on the realm\'s origin', () => {
    const { origin, requests } = planRequests('token', target);
    expect(origin).toBe('http://127.0.0.1:5000');
    expect(requests[0]).toMatchObject({ kind: 'token', method: 'GET', path: '/token?service=reg&scope=repository%3Ateam%2Fapp%3Apull' });
  });

  it('token is refused for a registry without bearer tokens', () => {
    expect(errorCodeOf(() => planRequests('token', { ...target, tokenUrl: undefined }))).toBe('INVALID_ARGUMENT');
  });

  it('mix defaults to one cold pull: HEAD, manifest chain, config and layers', () => {
    const { requests } = planRequests('mix', target);
    expect(requests.map((r) => r.kind).sort()).toEqual(['blobGet', 'blobGet', 'blobGet', 'manifestGet', 'manifestHead']);
    expect(requests.filter((r) => r.kind === 'manifestGet').map((r) => r.path)).toEqual([`/v2/team/app/manifests/${D('a')}`]);
    expect(new Set(requests.filter((r) => r.kind === 'blobGet').map((r) => r.path)).size).toBe(3);
  });

  it('mix refuses tokens on another origin than the registry', () => {
    const elsewhere = { ...target, tokenUrl: new URL('https://auth.example.com/token') };
    expect(errorCodeOf(() => planRequests('mix', elsewhere, { token: 1 }))).toBe('INVALID_ARGUMENT');
  });
});

describe('mix weights', () => {
  it('interleaves kinds smoothly by weight', () => {
    const order = interleave({ manifestHead: 1, manifestGet: 1, blobGet: 3, token: 0 });
    expect(order).toHaveLength(5);
    expect(order.filter((k) => k === 'blobGet')).toHaveLength(3);
    expect(order[0]).toBe('blobGet');
    expect(order.join(',')).not.toContain('blobGet,blobGet,blobGet');
  });

  it('parses the flag syntax and rejects unknown kinds', () => {
    expect(parseMix('manifest-head=2, blob-get=5,token=0')).toEqual({ manifestHead: 2, blobGet: 5, token: 0 });
    expect(errorCodeOf(() => parseMix('layers=3'))).toBe('INVALID_ARGUMENT');
    expect(errorCodeOf(() => parseMix('manifest-head=-1'))).toBe('INVALID_ARGUMENT');
  });

  it('rejects all-zero and oversized mixes', () => {
    expect(errorCodeOf(() => mixWeights({ manifestHead: 0, manifestGet: 0, blobGet: 0 }, 3, 1))).toBe('INVALID_ARGUMENT');
    expect(errorCodeOf(() => mixWeights({ blobGet: 20_000 }, 3, 1))).toBe('INVALID_ARGUMENT');
  });
});

describe('validateLoadSpec', () => {
  it('lists every bad field at once', () => {
    try {
      validateLoadSpec({ registry: 'ftp://x', image: '', profile: 'storm' as never, connections: 0, durationSeconds: -1, rate: 1.5 });
      expect.unreachable();
    } catch (err) {
      expect(isPullbenchError(err, 'INVALID_ARGUMENT')).toBe(true);
      expect((err as { details: { problems: string[] } }).details.problems).toHaveLength(6);
    }
  });

  it('refuses credentials in the URL without echoing them', () => {
    try {
      validateLoadSpec({ registry: 'http://me:hunter2@127.0.0.1:5000', image: 'a:b', profile: 'mix' });
      expect.unreachable();
    } catch (err) {
      expect(isPullbenchError(err, 'INVALID_ARGUMENT')).toBe(true);
      expect(JSON.stringify(err) + String(err)).not.toContain('hunter2');
    }
  });

  it('accepts a sensible spec', () => {
    expect(() => validateLoadSpec({ registry: 'http://127.0.0.1:5000', image: 'a:b', profile: 'mix', connections: 50, durationSeconds: 10, rate: 200 })).not.toThrow();
  });
});

describe('splitImage', () => {
  it('keeps repository paths as given (no docker.io library/ prefix) and accepts this registry\'s host', () => {
    expect(splitImage('nginx:1.27', '127.0.0.1:5000')).toEqual({ repository: 'nginx', reference: '1.27' });
    expect(splitImage('127.0.0.1:5000/team/app@' + D('a'), '127.0.0.1:5000')).toEqual({ repository: 'team/app', reference: D('a') });
    expect(errorCodeOf(() => splitImage('quay.io/team/app:v1', '127.0.0.1:5000'))).toBe('INVALID_ARGUMENT');
    expect(errorCodeOf(() => splitImage('UPPER:v1', '127.0.0.1:5000'))).toBe('INVALID_IMAGE_NAME');
  });
});

describe('results', () => {
  const counts = {
    startedAt: new Date('2026-01-01T00:00:00Z'),
    finishedAt: new Date('2026-01-01T00:00:02Z'),
    durationSeconds: 2,
    totalRequests: 100,
    totalBytes: 2048,
    errors: 1,
    timeouts: 1,
    non2xx: { '429': 10, '503': 5 },
    latencyMs: { p50: 1, p90: 2, p99: 5, max: 9, mean: 1.5 },
    kindRequests: [0, 100, 0, 0],
    kindBytes: [0, 2048, 0, 0],
    kindOk: [0, 85, 0, 0],
    kindStatus: new Map([
      ['manifestGet 429', 10],
      ['manifestGet 503', 5],
    ]),
    cpuMs: 1200,
  };

  it('summarizes into the versioned shape, 429s counted separately', () => {
    const r: LoadResult = summarize(counts, { profile: 'manifest-get', target, auth: 'bearer', connections: 4, tokenRefreshes: 0 });
    expect(r).toMatchObject({
      schema: 'pullbench.load/v1',
      requests: { total: 100, perSecond: 50 },
      throughput: { bytes: 2048, bytesPerSecond: 1024 },
      tooManyRequests: 10,
      byKind: { manifestGet: { requests: 100, ok: 85, byStatus: { '429': 10, '503': 5 } } },
      image: { layers: 2, layerBytes: 3000 },
    });
    expect(r.byKind.blobGet).toBeUndefined();
    const text = renderLoadResult(r);
    expect(text).toContain('p99');
    expect(text).toContain('429×10');
    expect(text).toContain('429 too many requests 10');
  });
});

describe('token expiry', () => {
  const t0 = Date.parse('2026-01-01T00:00:10.900Z');

  it('counts from issued_at when it is earlier (whole seconds) and plausible', () => {
    expect(tokenExpiry({ expires_in: 2, issued_at: '2026-01-01T00:00:10Z' }, t0)).toEqual({ expiresAt: t0 - 900 + 2000, lifetimeMs: 2000 });
    // A server clock an hour off is ignored.
    expect(tokenExpiry({ expires_in: 60, issued_at: '2026-01-01T01:00:10Z' }, t0).expiresAt).toBe(t0 + 60_000);
  });

  it('defaults to 60 s, as the token spec says', () => {
    expect(tokenExpiry({ token: 'x' }, t0)).toEqual({ expiresAt: t0 + 60_000, lifetimeMs: 60_000 });
  });

  it('refreshes with a margin: 12 s before a 60 s token expires, 1 s before a 2 s one', () => {
    expect(refreshDelayMs({ expiresAt: t0 + 60_000, lifetimeMs: 60_000 }, t0)).toBe(48_000);
    expect(refreshDelayMs({ expiresAt: t0 + 2000, lifetimeMs: 2000 }, t0)).toBe(1000);
    expect(refreshDelayMs({ expiresAt: t0 - 5, lifetimeMs: 2000 }, t0)).toBe(0);
  });
});
