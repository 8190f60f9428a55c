import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { loadUsersFile } from '../../src/registry/auth.js';
import { startRegistryServer, type RunningRegistryServer } from '../../src/registry/server.js';
import { makeTempDir } from '../../src/util/temp.js';
import { errorCode, makeImage, pushImage } from './helpers.js';

const alice = { username: 'alice', password: 's3cret-pw' };
const basic = (u: { username: string; password: string }): string => `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}`;

describe('with basic auth', () => {
  let reg: RunningRegistryServer;
  beforeAll(async () => {
    reg = await startRegistryServer({ storage: 'memory', auth: 'basic', users: [alice] });
  });
  afterAll(async () => reg.close());

  it('challenges anonymous clients and rejects wrong passwords with 401 UNAUTHORIZED', async () => {
    const anon = await fetch(`${reg.url}/v2/`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const wrong = await fetch(`${reg.url}/v2/`, { headers: { Authorization: basic({ ...alice, password: 'nope' }) } });
    expect(wrong.status).toBe(401);
    const body = await wrong.text();
    expect(JSON.parse(body).errors[0].code).toBe('UNAUTHORIZED');
    expect(body).not.toContain('nope');
  });

  it('lets a user push and pull', async () => {
    const img = makeImage([100]);
    await pushImage(reg.url, 'private/app', img, 'v1', { Authorization: basic(alice) });
    const res = await fetch(`${reg.url}/v2/private/app/manifests/v1`, { headers: { Authorization: basic(alice) } });
    expect(res.status).toBe(200);
  });
});

describe('with token auth', () => {
  let reg: RunningRegistryServer;
  const img = makeImage([100]);
  beforeAll(async () => {
    reg = await startRegistryServer({ storage: 'memory', auth: 'token', users: [alice], tokenTtlSeconds: 60 });
    const { token } = await getToken('repository:repo-a:pull,push', alice);
    await pushImage(reg.url, 'repo-a', img, 'v1', { Authorization: `Bearer ${token}` });
  });
  afterAll(async () => reg.close());

  async function getToken(scope: string, user?: typeof alice): Promise<{ token: string; expires_in: number; issued_at: string }> {
    const res = await fetch(`${reg.url}/token?service=pullbench-registry&scope=${encodeURIComponent(scope)}`, {
      headers: user ? { Authorization: basic(user) } : {},
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { token: string; expires_in: number; issued_at: string };
  }

  it('challenges with a Docker Hub-style Bearer realm, service and scope', async () => {
    const res = await fetch(`${reg.url}/v2/repo-a/manifests/v1`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="${reg.url}/token",service="pullbench-registry",scope="repository:repo-a:pull"`,
    );
    expect(await errorCode(res)).toBe('UNAUTHORIZED');
  });

  it('issues tokens with expiry that read the scoped repository', async () => {
    const t = await getToken('repository:repo-a:pull', alice);
    expect(t.expires_in).toBe(60);
    expect(Date.parse(t.issued_at)).toBeGreaterThan(0);
    const res = await fetch(`${reg.url}/v2/repo-a/manifests/v1`, { headers: { Authorization: `Bearer ${t.token}` } });
    expect(res.status).toBe(200);
  });

  it('never lets a token for repository A read repository B', async () => {
    const { token: adminToken } = await getToken('repository:repo-b:pull,push', alice);
    await pushImage(reg.url, 'repo-b', makeImage([10]), 'v1', { Authorization: `Bearer ${adminToken}` });
    const { token } = await getToken('repository:repo-a:pull', alice);
    const res = await fetch(`${reg.url}/v2/repo-b/manifests/v1`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
  });

  it('needs push scope to push', async () => {
    const { token } = await getToken('repository:repo-a:pull', alice);
    const res = await fetch(`${reg.url}/v2/repo-a/blobs/uploads/`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
  });

  it('rejects wrong credentials at the token endpoint, tampered tokens and anonymous tokens', async () => {
    const wrong = await fetch(`${reg.url}/token?scope=repository:repo-a:pull`, { headers: { Authorization: basic({ ...alice, password: 'x' }) } });
    expect(wrong.status).toBe(401);
    expect(await errorCode(wrong)).toBe('UNAUTHORIZED');
    const anon = await fetch(`${reg.url}/token?scope=repository:repo-a:pull`);
    expect(anon.status).toBe(401);
    const { token } = await getToken('repository:repo-a:pull', alice);
    const [payload, sig] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    claims.access[0].name = 'repo-b';
    const forged = `${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    const res = await fetch(`${reg.url}/v2/repo-b/manifests/v1`, { headers: { Authorization: `Bearer ${forged}` } });
    expect(res.status).toBe(401);
  });

  it('accepts the OAuth2 password grant that containerd POSTs', async () => {
    const res = await fetch(`${reg.url}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: alice.username, password: alice.password, scope: 'repository:repo-a:pull', service: 'pullbench-registry', client_id: 'containerd-client' }),
    });
    expect(res.status).toBe(200);
    const { access_token } = (await res.json()) as { access_token: string };
    expect((await fetch(`${reg.url}/v2/repo-a/manifests/v1`, { headers: { Authorization: `Bearer ${access_token}` } })).status).toBe(200);
  });

});

describe('when a token has expired', () => {
  it('refuses it with 401', async () => {
    // Expiry is checked in whole seconds: a 2 s token is good for at least 1 s, so the first use cannot race it.
    await using reg = await startRegistryServer({ storage: 'memory', auth: 'token', users: [alice], tokenTtlSeconds: 2 });
    const res = await fetch(`${reg.url}/token?service=pullbench-registry&scope=repository:a:pull`, { headers: { Authorization: basic(alice) } });
    const { token } = (await res.json()) as { token: string };
    expect((await fetch(`${reg.url}/v2/a/tags/list`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(404);
    await new Promise((r) => setTimeout(r, 3100));
    const expired = await fetch(`${reg.url}/v2/a/tags/list`, { headers: { Authorization: `Bearer ${token}` } });
    expect(expired.status).toBe(401);
  });
});

describe('with anonymous pull allowed in token mode', () => {
  it('issues anonymous pull tokens but no push', async () => {
    await using reg = await startRegistryServer({ storage: 'memory', auth: 'token', users: [alice], anonymousPull: true });
    const res = await fetch(`${reg.url}/token?scope=repository:pub:pull,push`);
    const { token } = (await res.json()) as { token: string };
    const push = await fetch(`${reg.url}/v2/pub/blobs/uploads/`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    expect(push.status).toBe(401);
    const pull = await fetch(`${reg.url}/v2/pub/tags/list`, { headers: { Authorization: `Bearer ${token}` } });
    expect(pull.status).toBe(404);
  });
});

describe('users files', () => {
  it('loads YAML lists and bcrypt htpasswd files, and rejects others', async () => {
    await using dir = await makeTempDir();
    const yamlPath = join(dir.path, 'users.yaml');
    await writeFile(yamlPath, '- username: alice\n  password: s3cret-pw\n');
    expect(await loadUsersFile(yamlPath)).toEqual([alice]);
    const htpasswd = join(dir.path, 'htpasswd');
    await writeFile(htpasswd, `bob:${bcrypt.hashSync('hunter2', 4)}\n`);
    const users = await loadUsersFile(htpasswd);
    await using reg = await startRegistryServer({ storage: 'memory', auth: 'basic', users });
    const ok = await fetch(`${reg.url}/v2/`, { headers: { Authorization: basic({ username: 'bob', password: 'hunter2' }) } });
    expect(ok.status).toBe(200);
    const bad = join(dir.path, 'bad.json');
    await writeFile(bad, '{"username": "x"}');
    await expect(loadUsersFile(bad)).rejects.toSatisfy((e) => isPullbenchError(e, 'INVALID_USERS_FILE'));
  });
});

describe('with a pull rate limit', () => {
  it('counts manifest GETs per client, leaves HEAD free, and answers 429 TOOMANYREQUESTS', async () => {
    await using reg = await startRegistryServer({ storage: 'memory', rateLimit: { manifestGets: 2, windowMs: 60_000 } });
    await pushImage(reg.url, 'limited', makeImage([10]));
    const get = (): Promise<Response> => fetch(`${reg.url}/v2/limited/manifests/v1`);
    const first = await get();
    expect(first.headers.get('ratelimit-limit')).toBe('2;w=60');
    expect(first.headers.get('ratelimit-remaining')).toBe('1;w=60');
    const head = await fetch(`${reg.url}/v2/limited/manifests/v1`, { method: 'HEAD' });
    expect(head.headers.get('ratelimit-remaining')).toBe('1;w=60');
    expect((await get()).status).toBe(200);
    const limited = await get();
    expect(limited.status).toBe(429);
    expect(await errorCode(limited)).toBe('TOOMANYREQUESTS');
    expect(reg.stats().tooManyRequests).toBe(1);
  });
});

describe('with fault injection', () => {
  it('answers 503 at the configured error rate and adds latency', async () => {
    await using failing = await startRegistryServer({ storage: 'memory', faults: { errorRate: 1 } });
    const res = await fetch(`${failing.url}/v2/`);
    expect(res.status).toBe(503);
    await using slow = await startRegistryServer({ storage: 'memory', faults: { latencyMs: 200 } });
    const t0 = Date.now();
    await fetch(`${slow.url}/v2/`);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
  });
});
