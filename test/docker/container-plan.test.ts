import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { errorCodeOf } from '../helpers/error-code.js';
import { countAccessLogLine, planContainer } from '../../src/registry/providers/container.js';
import { emptyStats } from '../../src/registry/stats.js';


describe('planContainer', () => {
  it('listens on 127.0.0.1 at the given port', () => {
    const plan = planContainer({}, 41234);
    expect(plan.env.REGISTRY_HTTP_ADDR).toBe('127.0.0.1:41234');
    expect(plan.env.REGISTRY_AUTH).toBeUndefined();
    expect(plan.files).toEqual([]);
  });

  it('copies an htpasswd file with bcrypt hashes, never the password in the environment', () => {
    const plan = planContainer({ users: [{ username: 'alice', password: 's3cret-pw' }] }, 5000);
    expect(plan.env.REGISTRY_AUTH).toBe('htpasswd');
    const htpasswd = plan.files.find((f) => f.target.endsWith('htpasswd'));
    const [user, hash] = (htpasswd?.content.trim() ?? '').split(':');
    expect(user).toBe('alice');
    expect(bcrypt.compareSync('s3cret-pw', hash ?? '')).toBe(true);
    expect(JSON.stringify(plan.env)).not.toContain('s3cret-pw');
    expect(plan.secrets).toContain('s3cret-pw');
  });

  it('mirrors through REGISTRY_PROXY_REMOTEURL, with upstream credentials in a copied config file', () => {
    const plan = planContainer({ upstream: { url: 'http://127.0.0.1:5001', credentials: { username: 'u', password: 'up-pw' } } }, 5002);
    expect(plan.env.REGISTRY_PROXY_REMOTEURL).toBe('http://127.0.0.1:5001');
    expect(JSON.stringify(plan.env)).not.toContain('up-pw');
    const config = plan.files.find((f) => f.target === '/etc/docker/registry/config.yml');
    expect(config?.content).toContain('password: up-pw');
    expect(config?.mode).toBe(0o600);
  });

  it('rejects what distribution cannot do, all at once', () => {
    expect(errorCodeOf(() => planContainer({ auth: 'token', rateLimit: { manifestGets: 1, windowMs: 1 } }, 1))).toBe('INVALID_ARGUMENT');
    expect(errorCodeOf(() => planContainer({ auth: 'basic' }, 1))).toBe('INVALID_ARGUMENT');
    expect(errorCodeOf(() => planContainer({ upstream: { url: 'not a url' } }, 1))).toBe('INVALID_ARGUMENT');
    expect(errorCodeOf(() => planContainer({ users: [{ username: 'a:b', password: 'x' }] }, 1))).toBe('INVALID_ARGUMENT');
  });
});

describe('counting requests from distribution log lines', () => {
  const line = (method: string, uri: string, status: number, written: number): string =>
    `time="2026-11-21T23:20:30.36417566Z" level=info msg="response completed" go.version=go1.19.8 http.request.host="127.0.0.1:36755" http.request.id=a6ff2270 http.request.method=${method} http.request.remoteaddr="127.0.0.1:54622" http.request.uri="${uri}" http.request.useragent=node http.response.contenttype="application/json; charset=utf-8" http.response.duration=1.35127ms http.response.status=${status} http.response.written=${written}`;

  it('counts manifests, blobs, uploads, 429s and bytes served like the embedded registry does', () => {
    const stats = emptyStats(false);
    countAccessLogLine(line('GET', '/v2/', 200, 2), stats);
    countAccessLogLine(line('HEAD', '/v2/team/app/manifests/v1', 200, 0), stats);
    countAccessLogLine(line('GET', '/v2/team/app/manifests/v1', 200, 528), stats);
    countAccessLogLine(line('GET', '/v2/team/app/blobs/sha256:abc', 200, 22000), stats);
    countAccessLogLine(line('HEAD', '/v2/team/app/blobs/sha256:abc', 200, 0), stats);
    countAccessLogLine(line('POST', '/v2/team/app/blobs/uploads/', 202, 0), stats);
    countAccessLogLine(line('PUT', '/v2/team/app/blobs/uploads/8f1e?digest=sha256:abc', 201, 0), stats);
    countAccessLogLine(line('GET', '/v2/team/app/manifests/v2', 429, 0), stats);
    countAccessLogLine('time="x" level=info msg="listening on 127.0.0.1:5000"', stats);
    expect(stats).toMatchObject({ manifestHead: 1, manifestGet: 2, blobGet: 1, blobHead: 1, upload: 2, tooManyRequests: 1, bytesServed: 22528 });
  });
});
