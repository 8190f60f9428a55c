import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createServer, request, type Server } from 'node:http';
import { EmbeddedRuntime } from '../../src/node/runtimes/embedded.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { pushWithClient, synthImage } from './helpers/images.js';

interface Seen {
  path: string;
  ns: string | null;
  header: string | undefined;
}

// A mirror in front of the registry that records each request and serves it from `/v2` after `prefix`
// (it flips one byte in the middle of every blob whose path `tamper` picks).
async function startMirror(
  upstream: string,
  prefix: string,
  tamper: (path: string) => boolean = () => false,
): Promise<{ url: string; seen: Seen[]; connections: { opened: number; open: number }; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://mirror');
    seen.push({ path: url.pathname, ns: url.searchParams.get('ns'), header: req.headers['x-mirror-key'] as string | undefined });
    if (!url.pathname.startsWith(`${prefix}/`)) return void res.writeHead(404, { 'content-length': 0 }).end();
    const path = `/v2/${url.pathname.slice(prefix.length + 1)}`;
    const out = request(`${upstream}${path}`, { method: req.method, headers: { accept: req.headers.accept ?? '*/*' } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (!tamper(path)) return void up.pipe(res);
      const parts: Buffer[] = [];
      up.on('data', (c: Buffer) => parts.push(c));
      up.on('end', () => {
        const body = Buffer.concat(parts);
        body[body.length >> 1]! ^= 1;
        res.end(body);
      });
    });
    out.on('error', () => res.writeHead(502).end());
    out.end();
  });
  const connections = { opened: 0, open: 0 };
  server.on('connection', (socket) => {
    connections.opened++;
    connections.open++;
    socket.on('close', () => connections.open--);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    seen,
    connections,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('the embedded runtime behind a hosts.toml mirror', () => {
  let registry: StartedRegistry;
  const img = synthImage([50_000, 20_000]);

  beforeAll(async () => {
    registry = await embeddedRegistry.start({});
    await pushWithClient(registry.url, 'lib/app', 'v1', img);
  });
  afterAll(async () => registry?.[Symbol.asyncDispose]());

  it('asks the mirror with ?ns=<the image registry> on every request, as containerd does', async () => {
    const mirror = await startMirror(registry.url, '/v2');
    try {
      const hostsToml = `server = "http://${registry.host}"\n[host."${mirror.url}"]\n  capabilities = ["pull", "resolve"]\n  [host."${mirror.url}".header]\n    x-mirror-key = "k1"\n`;
      await using rt = await EmbeddedRuntime.start({ label: 'ns', hostsToml: { [registry.host]: hostsToml } });
      registry.resetStats();
      await rt.pullImage(`${registry.host}/lib/app:v1`);
      expect(mirror.seen.map((s) => s.path)).toEqual([
        '/v2/lib/app/manifests/v1',
        `/v2/lib/app/manifests/${img.manifestDigest}`,
        ...new Array(3).fill(expect.stringMatching(/^\/v2\/lib\/app\/blobs\/sha256:/)),
      ]);
      expect(mirror.seen.every((s) => s.ns === registry.host && s.header === 'k1')).toBe(true);
      // Only the mirror was asked.
      expect(registry.stats().manifestHead + registry.stats().manifestGet).toBe(2);
    } finally {
      await mirror.close();
    }
  });

  it('finds a registry\'s hosts.toml as containerd looks in certs.d: host_port_ first, then host:port, then _default', async () => {
    const [byPort, byName, fallback] = [await startMirror(registry.url, '/v2'), await startMirror(registry.url, '/v2'), await startMirror(registry.url, '/v2')];
    const via = (m: { url: string }): string => `server = "http://${registry.host}"\n[host."${m.url}"]\n  capabilities = ["pull", "resolve"]\n`;
    const portDir = registry.host.replace(/:(\d+)$/, '_$1_');
    try {
      await using rt = await EmbeddedRuntime.start({ label: 'dirs', hostsToml: { [registry.host]: via(byName), [portDir]: via(byPort), _default: via(fallback) } });
      await rt.pullImage(`${registry.host}/lib/app:v1`);
      expect([byPort.seen.length > 0, byName.seen.length, fallback.seen.length]).toEqual([true, 0, 0]);
      await using rt2 = await EmbeddedRuntime.start({ label: 'dirs2', hostsToml: { _default: via(fallback) } });
      await rt2.pullImage(`${registry.host}/lib/app:v1`);
      expect(fallback.seen.length).toBeGreaterThan(0);
    } finally {
      await Promise.all([byPort.close(), byName.close(), fallback.close()]);
    }
  });

  it('joins the repository to the mirror path itself under override_path, without /v2', async () => {
    const mirror = await startMirror(registry.url, '/registry/cache');
    try {
      const hostsToml = `[host."${mirror.url}/registry/cache"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n`;
      await using rt = await EmbeddedRuntime.start({ label: 'override', hostsToml: { [registry.host]: hostsToml } });
      expect(await rt.pullImage(`${registry.host}/lib/app:v1`)).toBe(img.configDigest);
      expect(mirror.seen.length).toBe(5);
      for (const s of mirror.seen) {
        expect(s.path).toMatch(/^\/registry\/cache\/lib\/app\/(manifests|blobs)\//);
        expect(s.ns).toBe(registry.host);
      }
    } finally {
      await mirror.close();
    }
  });

  it('fails the pull when a mirror serves a tampered layer, stores nothing, and does not try the next host', async () => {
    const mirror = await startMirror(registry.url, '/v2', (path) => path.includes('/blobs/') && !path.endsWith(img.configDigest));
    try {
      const hostsToml = `server = "http://${registry.host}"\n[host."${mirror.url}"]\n  capabilities = ["pull", "resolve"]\n`;
      await using rt = await EmbeddedRuntime.start({ label: 'tamper', hostsToml: { [registry.host]: hostsToml } });
      registry.resetStats();
      const err = await rt.pullImage(`${registry.host}/lib/app:v1`).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'RUNTIME_ERROR', details: { code: 'DIGEST_MISMATCH' } });
      expect(await rt.listImages()).toEqual([]);
      // The manifest and the config are kept (as in containerd's content store); no layer is.
      expect(rt.contentSize()).toBe(img.manifest.length + img.config.length);
      // containerd's fetcher falls back only while opening a blob; a bad body is the pull's failure.
      // (the registry's blob GETs are the mirror's own, none came from the runtime directly:
      // the config, then both layers at once).
      const viaMirror = mirror.seen.filter((r) => r.path.includes('/blobs/')).length;
      expect(viaMirror).toBe(3);
      expect(registry.stats().blobGet).toBe(viaMirror);
    } finally {
      await mirror.close();
    }
  });

  it('sends no ns to the registry the image names, and leaves no connection open after the pull', async () => {
    const direct = await startMirror(registry.url, '/v2');
    try {
      const host = new URL(direct.url).host;
      await using rt = await EmbeddedRuntime.start({ label: 'direct', hostsToml: { [host]: `server = "${direct.url}"\n` } });
      await rt.pullImage(`${host}/lib/app:v1`);
      expect(direct.seen).toHaveLength(5);
      expect(direct.seen.every((s) => s.ns === null)).toBe(true);
      // One connection for the resolve, one for the manifest then the config, two more for the layers in
      // parallel (containerd: a transport per phase); all closed once the pull is done.
      expect(direct.connections.opened).toBeLessThanOrEqual(4);
      await vi.waitFor(() => expect(direct.connections.open).toBe(0));
    } finally {
      await direct.close();
    }
  });
});
