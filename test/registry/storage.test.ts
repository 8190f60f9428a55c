import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { distributionRegistry, embeddedRegistry, registryProvider } from '../../src/registry/provider.js';
import { startRegistryServer } from '../../src/registry/server.js';
import { makeTempDir } from '../../src/util/temp.js';
import { makeImage, pushImage } from './helpers.js';

describe('filesystem storage', () => {
  it('keeps repositories, tags, referrers and blobs across a restart, and drops partial uploads', async () => {
    await using dir = await makeTempDir();
    const image = makeImage([2048]);
    const subject = { mediaType: MediaType.OciManifest, digest: image.manifestDigest, size: image.manifest.length };
    const sig = makeImage([10], { artifactType: 'application/vnd.example.sig', subject });
    {
      await using reg = await startRegistryServer({ storage: 'filesystem', rootDir: dir.path });
      await pushImage(reg.url, 'keep/me', image);
      await pushImage(reg.url, 'keep/me', sig, 'sig');
      // An upload in progress when the process dies.
      const start = await fetch(`${reg.url}/v2/keep/me/blobs/uploads/`, { method: 'POST' });
      await fetch(`${reg.url}${start.headers.get('location')!}`, { method: 'PATCH', body: randomBytes(1000) });
    }
    await mkdir(join(dir.path, '_uploads'), { recursive: true });
    await writeFile(join(dir.path, '_uploads', 'crashed'), randomBytes(100));
    await using reg = await startRegistryServer({ storage: 'filesystem', rootDir: dir.path });
    expect(await readdir(join(dir.path, '_uploads'))).toEqual([]);
    const m = await fetch(`${reg.url}/v2/keep/me/manifests/v1`, { headers: { Accept: MediaType.OciManifest } });
    expect(m.headers.get('docker-content-digest')).toBe(image.manifestDigest);
    const blob = await fetch(`${reg.url}/v2/keep/me/blobs/${digestOf(image.layers[0]!)}`);
    expect(Buffer.from(await blob.arrayBuffer()).equals(image.layers[0]!)).toBe(true);
    const refs = (await (await fetch(`${reg.url}/v2/keep/me/referrers/${image.manifestDigest}`)).json()) as { manifests: Array<{ digest: string }> };
    expect(refs.manifests.map((r) => r.digest)).toEqual([sig.manifestDigest]);
    expect(await (await fetch(`${reg.url}/v2/_catalog`)).json()).toEqual({ repositories: ['keep/me'] });
  });

  it('stores a blob pushed to two repositories once', async () => {
    await using reg = await startRegistryServer({ storage: 'filesystem' });
    const image = makeImage([4096]);
    await pushImage(reg.url, 'one', image);
    await pushImage(reg.url, 'two', image);
    const hex = digestOf(image.layers[0]!).slice(7);
    const files = await readdir(join(reg.rootDir!, 'blobs', 'sha256', hex.slice(0, 2)));
    expect(files.filter((f) => f === hex)).toHaveLength(1);
  });
});

describe('registry providers', () => {
  it('starts the embedded registry with a version and stats', async () => {
    await using reg = await embeddedRegistry.start({ storage: 'memory' });
    expect(reg.version()).toMatch(/^pullbench-embedded /);
    expect(reg.host).toMatch(/^127\.0\.0\.1:\d+$/);
    await (await fetch(`${reg.url}/v2/x/manifests/latest`)).arrayBuffer();
    expect(reg.stats().manifestGet).toBe(1);
    reg.resetStats();
    expect(reg.stats().manifestGet).toBe(0);
  });

  it('names an external registry by URL and rejects unknown providers and unsupported specs', async () => {
    await using ext = await registryProvider('external', 'https://registry.example:5000/ignored').start({});
    expect(ext.url).toBe('https://registry.example:5000');
    expect(ext.host).toBe('registry.example:5000');
    expect(() => registryProvider('nope')).toThrow();
    await expect(distributionRegistry.start({ auth: 'token' })).rejects.toSatisfy((e) => isPullbenchError(e, 'INVALID_ARGUMENT') || isPullbenchError(e, 'TOOL_MISSING'));
    await expect(startRegistryServer({ auth: 'basic' })).rejects.toSatisfy((e) => isPullbenchError(e, 'INVALID_ARGUMENT'));
    await expect(startRegistryServer({ storage: 'memory', upstream: { url: 'ftp://x' } })).rejects.toSatisfy((e) => isPullbenchError(e, 'INVALID_ARGUMENT'));
  });
});
