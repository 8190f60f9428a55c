import { describe, expect, it } from 'vitest';
import { isPullbenchError, PullbenchError } from '../../src/errors.js';
import {
  Keyring,
  matchLabel,
  normaliseKey,
  parseDockerConfigJson,
  pullWithCredentials,
  type DockerConfig,
  type PullSecret,
} from '../../src/oci/credentials.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const user = (name: string): DockerConfig[string] => ({ username: name, password: `pw-${name}` });
const names = (k: Keyring, image: string): string[] => k.lookup(image).map((c) => c.username);

describe('the keyring matching rules (kubelet keyring.go)', () => {
  // [description, config keys -> usernames, image, expected usernames in order]
  const table: [string, Record<string, string>, string, string[]][] = [
    ['exact host', { 'registry.example.com': 'a' }, 'registry.example.com/app:1', ['a']],
    ['https scheme is stripped', { 'https://registry.example.com': 'a' }, 'registry.example.com/app', ['a']],
    ['http scheme is stripped', { 'http://registry.example.com': 'a' }, 'registry.example.com/app', ['a']],
    ['/v1/ is the bare host', { 'https://registry.example.com/v1/': 'a' }, 'registry.example.com/app', ['a']],
    ['/v2/ is the bare host', { 'registry.example.com/v2/': 'a' }, 'registry.example.com/x/y', ['a']],
    ['/v2/ prefix kept as path', { 'registry.example.com/v2/team': 'a' }, 'registry.example.com/team/app', ['a']],
    ['other host does not match', { 'registry.example.com': 'a' }, 'other.example.com/app', []],
    ['glob matches one label', { '*.example.com': 'a' }, 'a.example.com/app', ['a']],
    ['glob does not match the apex', { '*.example.com': 'a' }, 'example.com/app', []],
    ['glob does not match two labels', { '*.example.com': 'a' }, 'a.b.example.com/app', []],
    ['glob in the middle', { 'registry.*.example.com': 'a' }, 'registry.eu.example.com/app', ['a']],
    ['partial label glob', { 'reg-*.example.com': 'a' }, 'reg-eu.example.com/app', ['a']],
    // url.Parse reads `?` as the start of a query, so such a key is just the host `reg`.
    ['? in a key starts a query', { 'reg?.example.com': 'a' }, 'reg1.example.com/app', []],
    ['character class', { 'reg[0-3].example.com': 'a' }, 'reg2.example.com/app', ['a']],
    ['negated class', { 'reg[^0-3].example.com': 'a' }, 'reg2.example.com/app', []],
    ['port must match', { 'registry.example.com:5000': 'a' }, 'registry.example.com:5000/app', ['a']],
    ['key with port, image without', { 'registry.example.com:5000': 'a' }, 'registry.example.com/app', []],
    ['key without port, image with', { 'registry.example.com': 'a' }, 'registry.example.com:5000/app', []],
    ['443 is not implied', { 'registry.example.com:443': 'a' }, 'registry.example.com/app', []],
    ['path prefix', { 'quay.io/team': 'a' }, 'quay.io/team/app', ['a']],
    ['path mismatch', { 'quay.io/team': 'a' }, 'quay.io/other/app', []],
    // kubelet compares paths with strings.HasPrefix, not by segment.
    ['path prefix is a string prefix', { 'quay.io/team': 'a' }, 'quay.io/teamx/app', ['a']],
    ['trailing slash key needs the segment', { 'quay.io/team/': 'a' }, 'quay.io/teamx/app', []],
    ['most specific key first', { 'quay.io': 'host', 'quay.io/team': 'team', 'quay.io/team/app': 'app' }, 'quay.io/team/app', ['app', 'team', 'host']],
    ['reverse lexical order among globs', { '*.example.com': 'glob', 'a.example.com': 'exact' }, 'a.example.com/x', ['exact', 'glob']],
    ['localhost with port', { 'localhost:5000': 'a' }, 'localhost:5000/app', ['a']],
    ['IP and port', { '127.0.0.1:5000': 'a' }, '127.0.0.1:5000/app', ['a']],
    ['docker.io key for a Hub image', { 'docker.io': 'a' }, 'nginx', ['a']],
    ['index.docker.io fallback for a Hub image', { 'https://index.docker.io/v1/': 'a' }, 'nginx:1.27', ['a']],
    ['index.docker.io fallback for a user repo', { 'index.docker.io': 'a' }, 'someone/app', ['a']],
    ['index.docker.io fallback for docker.io/…', { 'index.docker.io': 'a' }, 'docker.io/library/redis', ['a']],
    ['index.docker.io not used for other hosts', { 'index.docker.io': 'a' }, 'quay.io/app', []],
    ['fallback only when nothing else matched', { 'index.docker.io': 'idx', 'docker.io/library': 'lib' }, 'nginx', ['lib']],
    ['tag and digest are ignored', { 'quay.io/team/app': 'a' }, `quay.io/team/app:1@sha256:${'a'.repeat(64)}`, ['a']],
    ['host case is significant', { 'Registry.example.com': 'a' }, 'registry.example.com/app', []],
  ];

  it.each(table)('%s', (_desc, keys, image, expected) => {
    const config: DockerConfig = Object.fromEntries(Object.entries(keys).map(([k, u]) => [k, user(u)]));
    expect(names(Keyring.fromDockerConfigs(config), image)).toEqual(expected);
  });

  it('returns every credential stored under one key, in the order added', () => {
    const k = Keyring.fromDockerConfigs({ 'quay.io': user('first') }, { 'https://quay.io/v1/': user('second') });
    expect(names(k, 'quay.io/x')).toEqual(['first', 'second']);
  });

  it('returns the passwords with the usernames', () => {
    expect(Keyring.fromDockerConfigs({ 'quay.io': user('u') }).lookup('quay.io/x')).toEqual([{ username: 'u', password: 'pw-u' }]);
  });

  it('matches labels like filepath.Match and treats malformed patterns as no match', () => {
    expect(matchLabel('a*c', 'abbbc')).toBe(true);
    expect(matchLabel('reg?', 'reg1')).toBe(true);
    expect(matchLabel('a\\*c', 'a*c')).toBe(true);
    expect(matchLabel('a\\*c', 'abc')).toBe(false);
    expect(matchLabel('[a-', 'a')).toBe(false);
  });

  it('normalises keys as BasicDockerKeyring.Add does', () => {
    expect(normaliseKey('https://index.docker.io/v1/')).toBe('index.docker.io');
    expect(normaliseKey('http://r.example.com:5000/v2/ns')).toBe('r.example.com:5000/ns');
    expect(normaliseKey('r.example.com/ns/')).toBe('r.example.com/ns/');
  });
});

describe('docker config entries', () => {
  it('decodes auth (padded and unpadded) and lets it win over username/password', () => {
    const padded = b64('alice:s3cret:with:colons');
    const unpadded = b64('bob:pw1').replace(/=+$/, '');
    const creds = parseDockerConfigJson(
      JSON.stringify({ auths: { a: { auth: padded, username: 'ignored', password: 'ignored' }, b: { auth: unpadded } } }),
    );
    expect(creds.get('a')).toEqual({ username: 'alice', password: 's3cret:with:colons' });
    expect(creds.get('b')).toEqual({ username: 'bob', password: 'pw1' });
  });

  it('uses username/password when auth is absent or empty', () => {
    const creds = parseDockerConfigJson(JSON.stringify({ auths: { a: { username: 'u', password: 'p', auth: '' } } }));
    expect(creds.get('a')).toEqual({ username: 'u', password: 'p' });
  });

  const bad: [string, string][] = [
    ['not JSON', '{"auths": {"a": {"password": "hunter2"'],
    ['auth without a colon', JSON.stringify({ auths: { a: { auth: b64('hunter2') } } })],
    ['auth not base64', JSON.stringify({ auths: { a: { auth: 'hunter2!!' } } })],
    ['auths not an object', JSON.stringify({ auths: ['hunter2'] })],
    ['password not a string', JSON.stringify({ auths: { a: { username: 'u', password: ['hunter2'] } } })],
  ];
  it.each(bad)('rejects %s with INVALID_CREDENTIALS_FILE without echoing the secret', (_d, text) => {
    let caught: unknown;
    try {
      parseDockerConfigJson(text, 'node config.json');
    } catch (err) {
      caught = err;
    }
    expect(isPullbenchError(caught, 'INVALID_CREDENTIALS_FILE')).toBe(true);
    const err = caught as PullbenchError;
    expect(`${err.message} ${JSON.stringify(err.details)} ${String(err.cause ?? '')}`).not.toMatch(/hunter2|aHVudGVyMg/);
  });
});

describe('a pod keyring (secrets.go MakeDockerKeyring)', () => {
  const jsonSecret = (name: string, auths: DockerConfig): PullSecret => ({
    metadata: { name },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': b64(JSON.stringify({ auths })) },
  });
  const node = Keyring.fromNodeConfigJson(JSON.stringify({ auths: { 'quay.io': { auth: b64('node:npw') } } }));

  it('tries the pod secrets before the node config.json', () => {
    const k = Keyring.forPod({ secrets: [jsonSecret('s1', { 'quay.io': user('pod') })], node });
    expect(names(k, 'quay.io/x')).toEqual(['pod', 'node']);
  });

  it('reads legacy kubernetes.io/dockercfg secrets (no auths wrapper)', () => {
    const legacy: PullSecret = {
      type: 'kubernetes.io/dockercfg',
      stringData: { '.dockercfg': JSON.stringify({ 'https://quay.io/v1/': { auth: b64('legacy:lpw') } }) },
    };
    expect(names(Keyring.forPod({ secrets: [legacy] }), 'quay.io/x')).toEqual(['legacy']);
  });

  it('ignores secrets of other types and empty data', () => {
    const opaque: PullSecret = { type: 'Opaque', data: { '.dockerconfigjson': b64('garbage') } };
    const empty: PullSecret = { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': '' } };
    expect(names(Keyring.forPod({ secrets: [opaque, empty], node }), 'quay.io/x')).toEqual(['node']);
  });

  it('merges several pod secrets into one most-specific-first keyring', () => {
    const k = Keyring.forPod({ secrets: [jsonSecret('a', { 'quay.io': user('host') }), jsonSecret('b', { 'quay.io/team': user('team') })] });
    expect(names(k, 'quay.io/team/app')).toEqual(['team', 'host']);
  });

  it('uses the service account secrets only when the pod names none (ServiceAccount admission)', () => {
    const sa = [jsonSecret('sa', { 'quay.io': user('sa') })];
    expect(names(Keyring.forPod({ secrets: [], serviceAccountSecrets: sa }), 'quay.io/x')).toEqual(['sa']);
    expect(names(Keyring.forPod({ secrets: [jsonSecret('p', { 'quay.io': user('pod') })], serviceAccountSecrets: sa }), 'quay.io/x')).toEqual(['pod']);
  });

  it('fails the pull on a malformed secret', () => {
    const broken: PullSecret = { metadata: { name: 'broken' }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '{' } };
    expect(() => Keyring.forPod({ secrets: [broken] })).toThrow(expect.objectContaining({ code: 'INVALID_CREDENTIALS_FILE' }));
  });
});

describe('pullWithCredentials (kuberuntime_image.go PullImage)', () => {
  const creds = [
    { username: 'a', password: 'pa' },
    { username: 'b', password: 'pb' },
  ];

  it('pulls anonymously once when no credential matched', async () => {
    const seen: (string | undefined)[] = [];
    await pullWithCredentials([], async (c) => void seen.push(c?.username));
    expect(seen).toEqual([undefined]);
  });

  it('stops at the first credential that works', async () => {
    const seen: string[] = [];
    const result = await pullWithCredentials(creds, async (c) => {
      seen.push(c!.username);
      if (c!.username === 'a') throw new PullbenchError('REGISTRY_UNAUTHORIZED', 'unauthorized');
      return 'sha256:ok';
    });
    expect(result).toBe('sha256:ok');
    expect(seen).toEqual(['a', 'b']);
  });

  it('aggregates the errors and never falls back to anonymous', async () => {
    const seen: (string | undefined)[] = [];
    const failing = pullWithCredentials(creds, async (c) => {
      seen.push(c?.username);
      throw new PullbenchError('REGISTRY_UNAUTHORIZED', `denied for ${c?.username}`);
    });
    await expect(failing).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED', message: '[denied for a, denied for b]' });
    expect(seen).toEqual(['a', 'b']);
  });
});
