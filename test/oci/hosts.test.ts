import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { loadHosts, parseHostsToml, type RegistryHost } from '../../src/oci/hosts.js';
import { fetchWithMirrors, type HostAttempt } from '../../src/oci/mirror-fetch.js';
import { makeTempDir } from '../../src/util/temp.js';

// Shaped after the examples in containerd's docs/hosts.md, rewritten.
const DOCKER_HUB_MIRRORS = `
# Docker Hub through two mirrors
server = "https://registry-1.docker.io"    # the upstream

[host."https://public-mirror.example.com"]
  capabilities = ["pull"]

[host."https://docker-mirror.internal"]
  capabilities = ["pull", "resolve"]
  ca = "docker-mirror.crt"
  skip_verify = false
  [host."https://docker-mirror.internal".header]
    x-custom-1 = "custom header"
    x-custom-2 = ["value a", "value b"]
`;

const OVERRIDE_PATH = `
server = "https://registry.example.com"

[host."https://artifacts.example.com/proxy/registry.example.com/v2"]
  capabilities = ["pull", "resolve"]
  override_path = true

[host."http://10.0.0.7:5000"]
  skip_verify = true
`;

describe('parseHostsToml', () => {
  it('lists the hosts in file order, then the server', () => {
    const hosts = parseHostsToml(DOCKER_HUB_MIRRORS, 'docker.io');
    expect(hosts).toEqual([
      { url: 'https://public-mirror.example.com/v2', capabilities: ['pull'], isMirror: true },
      {
        url: 'https://docker-mirror.internal/v2',
        capabilities: ['pull', 'resolve'],
        skipVerify: false,
        ca: ['docker-mirror.crt'],
        headers: { 'x-custom-1': 'custom header', 'x-custom-2': 'value a, value b' },
        isMirror: true,
      },
      { url: 'https://registry-1.docker.io/v2', capabilities: ['pull', 'resolve', 'push'], isMirror: false },
    ]);
  });

  it('keeps the path with override_path and gives hosts without capabilities all of them', () => {
    const hosts = parseHostsToml(OVERRIDE_PATH, 'registry.example.com');
    expect(hosts.map((h) => [h.url, h.capabilities.join(','), h.skipVerify])).toEqual([
      ['https://artifacts.example.com/proxy/registry.example.com/v2', 'pull,resolve', undefined],
      ['http://10.0.0.7:5000/v2', 'pull,resolve,push', true],
      ['https://registry.example.com/v2', 'pull,resolve,push', undefined],
    ]);
  });

  it('defaults the server to https://<host>, and registry-1.docker.io for docker.io', () => {
    expect(parseHostsToml('[host."http://m:1"]\n', 'quay.io').at(-1)?.url).toBe('https://quay.io/v2');
    expect(parseHostsToml('', 'docker.io').at(-1)?.url).toBe('https://registry-1.docker.io/v2');
    expect(parseHostsToml('', '127.0.0.1:5000').at(-1)?.url).toBe('http://127.0.0.1:5000/v2');
    expect(parseHostsToml('', 'localhost:5000').at(-1)?.url).toBe('http://localhost:5000/v2');
    expect(parseHostsToml('', '[::1]:5000').at(-1)?.url).toBe('http://[::1]:5000/v2');
    expect(parseHostsToml('', '10.0.0.1:5000').at(-1)?.url).toBe('https://10.0.0.1:5000/v2');
  });

  const bad: [string, string, number][] = [
    ['a date where a table belongs', '[host."https://x"]\nheader = 1979-05-27', 0],
    ['an unquoted string', 'server = https://x', 1],
    ['an unterminated string', '\n\nserver = "https://x', 3],
    ['a missing bracket', '[host."https://x"\ncapabilities = ["pull"]', 1],
    ['a duplicate key', 'server = "a"\nserver = "b"', 2],
    ['an unknown capability', '[host."https://x"]\ncapabilities = ["pull", "fly"]', 0],
    ['a non-boolean skip_verify', '[host."https://x"]\nskip_verify = "yes"', 0],
    ['an unknown top-level key', 'mirrors = ["a"]', 0],
  ];
  it.each(bad)('rejects %s with INVALID_HOSTS_TOML', (_d, text, line) => {
    let caught: unknown;
    try {
      parseHostsToml(text, 'docker.io');
    } catch (err) {
      caught = err;
    }
    expect(isPullbenchError(caught, 'INVALID_HOSTS_TOML')).toBe(true);
    if (line > 0) {
      expect((caught as { details: { line: number } }).details.line).toBe(line);
      expect((caught as Error).message).toMatch(new RegExp(`^docker\\.io/hosts\\.toml:${line}:\\d+: `));
    }
  });

  it('reads the TOML forms a hosts.toml may use: literal and escaped strings, multi-line arrays with comments, inline and sub-tables', () => {
    const toml = [
      `server = 'https://registry.example'`,
      `[host."https://mirror.example"]`,
      `capabilities = ["pull", # comment`,
      `  "resolve",`,
      `]`,
      `header = { X-Lit = 'C:\\path', X-Esc = "a\\tb\\u00e9", X-Many = ["1", "2"] }`,
      `[host."https://other.example".header]`,
      `X-Table = "yes"`,
    ].join('\n');
    const hosts = parseHostsToml(toml, 'docker.io');
    expect(hosts.map((h) => h.url)).toEqual(['https://mirror.example/v2', 'https://other.example/v2', 'https://registry.example/v2']);
    expect(hosts[0]!.capabilities).toEqual(['pull', 'resolve']);
    expect(hosts[0]!.headers).toEqual({ 'X-Lit': 'C:\\path', 'X-Esc': 'a\tbé', 'X-Many': '1, 2' });
    expect(hosts[1]!.headers).toEqual({ 'X-Table': 'yes' });
    // A dotted key makes a table, and a header must be a string or strings.
    expect(() => parseHostsToml(`[host."https://m"]\nheader.X-A.b = "c"`, 'docker.io')).toThrow(/X-A must be a string/);
  });
});

describe('loadHosts (certs.d layout)', () => {
  it('reads <host[:port]>/hosts.toml, then _default, then the default server', async () => {
    await using dir = await makeTempDir();
    await mkdir(join(dir.path, 'quay.io'));
    await mkdir(join(dir.path, '127.0.0.1:5000'));
    await mkdir(join(dir.path, '_default'));
    await writeFile(join(dir.path, 'quay.io', 'hosts.toml'), '[host."https://quay-mirror"]\n');
    await writeFile(join(dir.path, '127.0.0.1:5000', 'hosts.toml'), 'server = "http://127.0.0.1:5000"\n');
    await writeFile(join(dir.path, '_default', 'hosts.toml'), '[host."https://catch-all"]\ncapabilities = ["pull"]\n');
    expect((await loadHosts(dir.path, 'quay.io')).map((h) => h.url)).toEqual(['https://quay-mirror/v2', 'https://quay.io/v2']);
    expect((await loadHosts(dir.path, '127.0.0.1:5000')).map((h) => h.url)).toEqual(['http://127.0.0.1:5000/v2']);
    expect((await loadHosts(dir.path, 'ghcr.io')).map((h) => h.url)).toEqual(['https://catch-all/v2', 'https://ghcr.io/v2']);
    await using empty = await makeTempDir();
    expect(await loadHosts(empty.path, 'ghcr.io')).toEqual([
      { url: 'https://ghcr.io/v2', capabilities: ['pull', 'resolve', 'push'], isMirror: false },
    ]);
  });
});

describe('fetchWithMirrors (containerd fallback)', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  /** A fake registry host answering each request with the next status of `statuses` (the last repeats). */
  async function fakeHost(statuses: number[], seen: string[]): Promise<string> {
    let i = 0;
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const status = statuses[Math.min(i++, statuses.length - 1)] as number;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 200 ? 'ok' : 'no');
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async function deadHost(): Promise<string> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await new Promise((r) => server.close(r));
    return url;
  }

  function hostsFor(mirrors: string[], server: string, mirrorCaps = '"pull", "resolve"'): RegistryHost[] {
    const toml = `server = "${server}"\n${mirrors.map((m) => `[host."${m}"]\ncapabilities = [${mirrorCaps}]\n`).join('')}`;
    return parseHostsToml(toml, 'docker.io');
  }

  const get = (capability: 'resolve' | 'pull', path = '/library/nginx/manifests/latest') =>
    ({ capability, method: 'GET', path, registry: 'docker.io' }) as const;

  describe('when the mirror is down', () => {
    it('falls back to the upstream', async () => {
      const upstream: string[] = [];
      const hosts = hostsFor([await deadHost()], await fakeHost([200], upstream));
      const attempts: HostAttempt[] = [];
      const { response, host } = await fetchWithMirrors(hosts, get('resolve'), { onAttempt: (a) => attempts.push(a) });
      expect(await response.text()).toBe('ok');
      expect(host.isMirror).toBe(false);
      expect(attempts.map((a) => a.status ?? 'error')).toEqual(['error', 200]);
      // containerd adds ns= to any host that is not the image's registry; this fake upstream is 127.0.0.1.
      expect(upstream).toEqual(['GET /v2/library/nginx/manifests/latest?ns=docker.io']);
    });
  });

  describe('when the mirror answers 404 or 500', () => {
    it.each([404, 500, 403])('falls back to the upstream after %i', async (status) => {
      const mirror: string[] = [];
      const upstream: string[] = [];
      const hosts = hostsFor([await fakeHost([status], mirror)], await fakeHost([200], upstream));
      const { host } = await fetchWithMirrors(hosts, get('pull', `/library/nginx/blobs/sha256:${'a'.repeat(64)}`));
      expect(host.isMirror).toBe(false);
      expect(mirror).toEqual([`GET /v2/library/nginx/blobs/sha256:${'a'.repeat(64)}?ns=docker.io`]);
      expect(upstream).toHaveLength(1);
    });
  });

  it('retries 429 on the same host, then succeeds', async () => {
    const upstream: string[] = [];
    const hosts = hostsFor([], await fakeHost([429, 429, 200], upstream));
    const delays: number[] = [];
    const { response } = await fetchWithMirrors(hosts, get('resolve'), {
      retryDelayMs: (n) => n * 10,
      sleep: async (ms) => void delays.push(ms),
    });
    expect(response.status).toBe(200);
    expect(upstream).toHaveLength(3);
    expect(delays).toEqual([10, 20]);
  });

  it('stops retrying a host after 6 responses and fails with the first error', async () => {
    const mirror: string[] = [];
    const upstream: string[] = [];
    const hosts = hostsFor([await fakeHost([429], mirror)], await fakeHost([500], upstream));
    await expect(fetchWithMirrors(hosts, get('resolve'))).rejects.toMatchObject({
      code: 'REGISTRY_TOO_MANY_REQUESTS',
      details: { status: 429 },
    });
    expect(mirror).toHaveLength(6);
    expect(upstream).toHaveLength(1);
  });

  it('skips a pull-only mirror for tag resolution but uses it for blobs', async () => {
    const mirror: string[] = [];
    const upstream: string[] = [];
    const hosts = hostsFor([await fakeHost([200], mirror)], await fakeHost([200], upstream), '"pull"');
    expect((await fetchWithMirrors(hosts, get('resolve'))).host.isMirror).toBe(false);
    expect((await fetchWithMirrors(hosts, get('pull', '/library/nginx/blobs/sha256:x'))).host.isMirror).toBe(true);
    expect([mirror.length, upstream.length]).toEqual([1, 1]);
  });

  it('sends the hosts.toml headers', async () => {
    const seenHeaders: string[] = [];
    const server = createServer((req, res) => {
      seenHeaders.push(String(req.headers['x-custom']));
      res.end('ok');
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const hosts = parseHostsToml(`server = "${url}"\n[header]\nx-custom = "yes"\n`, `127.0.0.1:${(server.address() as AddressInfo).port}`);
    await fetchWithMirrors(hosts, { ...get('resolve'), registry: new URL(url).host });
    expect(seenHeaders).toEqual(['yes']);
  });
});
