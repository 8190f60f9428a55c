import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RegistryClient } from '../../src/oci/client.js';
import { exportLayout, importLayout, writeLayout } from '../../src/oci/layout.js';
import { MediaType, type ImageIndex } from '../../src/oci/media-types.js';
import { loadBase, pushSynthImage } from '../../src/oci/synth.js';
import { startContainerd } from '../../src/node/containerd/daemon.js';
import { makeTempDir, type TempDir } from '../../src/util/temp.js';
import { describeWithTools } from '../helpers/interop.js';
import { distributionRegistry, type StartedRegistry } from '../../src/registry/provider.js';

const run = promisify(execFile);
const bin = new URL('../../bin/dev.js', import.meta.url).pathname;

describeWithTools(['docker-registry', 'skopeo'], 'synthesised images in Debian docker-registry, read by skopeo', () => {
  let registry: StartedRegistry;
  let client: RegistryClient;
  let tmp: TempDir;

  beforeAll(async () => {
    registry = await distributionRegistry.start({});
    client = new RegistryClient({ baseUrl: registry.url });
    tmp = await makeTempDir('pullbench-synth-interop-');
  });
  afterAll(async () => {
    await registry?.[Symbol.asyncDispose]();
    await tmp?.remove();
  });

  const skopeo = async (...args: string[]): Promise<string> => (await run('skopeo', args, { maxBuffer: 16 * 1024 * 1024 })).stdout;

  it('skopeo inspects a synthesised image pushed to docker-registry', async () => {
    const image = await pushSynthImage(client, 'synth/app', 'v1', { layers: [1_000_000, 20_000], seed: 'skopeo' });
    const info = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${registry.host}/synth/app:v1`)) as {
      Digest: string;
      Layers: string[];
      Os: string;
      Architecture: string;
    };
    expect(info.Digest).toBe(image.descriptor.digest);
    expect(info.Layers).toEqual(image.images[0]!.layers.map((l) => l.digest));
    expect(info).toMatchObject({ Os: 'linux', Architecture: 'amd64' });
  });

  it('gives the same digests for the same seed in another repository', async () => {
    const spec = { layers: [50_000, 10_000], seed: 42 };
    const a = await pushSynthImage(client, 'synth/det-a', 'v1', spec);
    const b = await pushSynthImage(client, 'synth/det-b', 'v1', spec);
    expect(b.descriptor.digest).toBe(a.descriptor.digest);
    expect((await client.resolve('synth/det-b', 'v1')).digest).toBe(a.descriptor.digest);
  });

  it('pushes an index for several platforms, and skopeo picks each platform', async () => {
    const image = await pushSynthImage(client, 'synth/multi', 'v1', {
      layers: [30_000],
      platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }],
    });
    const raw = JSON.parse(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/synth/multi:v1`)) as ImageIndex;
    expect(raw.mediaType).toBe(MediaType.OciIndex);
    expect(raw.manifests.map((m) => m.platform?.architecture)).toEqual(['amd64', 'arm64']);
    const arm = JSON.parse(await skopeo('inspect', '--override-arch', 'arm64', '--tls-verify=false', `docker://${registry.host}/synth/multi:v1`)) as { Digest: string; Architecture: string; Layers: string[] };
    expect(arm.Architecture).toBe('arm64');
    expect(arm.Layers).toEqual(image.images[1]!.layers.map((l) => l.digest));
  });

  it('builds v2 on a v1 in another repository: shared layers are mounted, not uploaded', async () => {
    const v1 = await pushSynthImage(client, 'synth/base', 'v1', { layers: [40_000, 30_000], seed: 'pair' });
    const base = await loadBase(client, 'synth/base', 'v1');
    const v2 = await pushSynthImage(client, 'synth/app2', 'v2', { layers: [10_000], seed: 'pair', base });
    const digests = v2.images[0]!.layers.map((l) => l.digest);
    // v1's two layers and its /pause entrypoint layer, then the new one.
    expect(digests.slice(0, 3)).toEqual(v1.images[0]!.layers.map((l) => l.digest));
    expect(digests).toHaveLength(4);
    for (const d of digests) expect(await client.headBlob('synth/app2', d)).toBeDefined();
    const info = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${registry.host}/synth/app2:v2`)) as { Layers: string[] };
    expect(info.Layers).toEqual(digests);
  });

  it('round-trips an OCI layout: written by pullbench, copied by skopeo, imported and exported by pullbench', async () => {
    const dir = join(tmp.path, 'layout');
    const written = await writeLayout(dir, { layers: [200_000, 1000], seed: 'layout' }, 'v1');
    await skopeo('copy', '--dest-tls-verify=false', `oci:${dir}:v1`, `docker://${registry.host}/synth/from-skopeo:v1`);
    expect((await client.resolve('synth/from-skopeo', 'v1')).digest).toBe(written.descriptor.digest);

    const pushed = await importLayout(dir, client, 'synth/imported', 'v1');
    expect(pushed[pushed.length - 1]!.digest).toBe(written.descriptor.digest);

    const skopeoDir = join(tmp.path, 'skopeo-layout');
    await skopeo('copy', '--src-tls-verify=false', `docker://${registry.host}/synth/imported:v1`, `oci:${skopeoDir}:v1`);
    const reimported = await importLayout(skopeoDir, client, 'synth/reimported', 'v1');
    expect(reimported[reimported.length - 1]!.digest).toBe(written.descriptor.digest);

    const exported = join(tmp.path, 'exported');
    const desc = await exportLayout(client, 'synth/imported', 'v1', exported);
    expect(desc.digest).toBe(written.descriptor.digest);
    expect((await readdir(join(exported, 'blobs', 'sha256'))).sort()).toEqual((await readdir(join(dir, 'blobs', 'sha256'))).sort());
  });

  it('pullbench image synth --json, image import and image export work from the command line', async () => {
    const { stdout } = await run(bin, ['image', 'synth', 'cli/app:v1', '--registry', registry.url, '--layers', '10kB', '--count', '2', '--seed', 'cli', '--json']);
    const out = JSON.parse(stdout) as { reference: string; image: { descriptor: { digest: string }; images: { layers: unknown[] }[] } };
    expect(out.reference).toBe(`${registry.host}/cli/app:v1`);
    expect(out.image.images[0]!.layers).toHaveLength(3); // two of 10kB and the /pause entrypoint layer
    expect((await client.resolve('cli/app', 'v1')).digest).toBe(out.image.descriptor.digest);

    const dir = join(tmp.path, 'cli-layout');
    await writeLayout(dir, { layers: [1000] }, 'one');
    const imported = await run(bin, ['image', 'import', dir, 'cli/imported:v9', '--registry', registry.url, '--name', 'one', '--json']);
    expect((JSON.parse(imported.stdout) as { reference: string }).reference).toBe(`${registry.host}/cli/imported:v9`);
    const exportDir = join(tmp.path, 'cli-export');
    const exported = await run(bin, ['image', 'export', 'cli/imported:v9', exportDir, '--registry', registry.url, '--json']);
    const exportedDigest = (JSON.parse(exported.stdout) as { descriptor: { digest: string } }).descriptor.digest;
    expect(exportedDigest).toBe((await client.resolve('cli/imported', 'v9')).digest);
    expect(JSON.parse(await skopeo('inspect', `oci:${exportDir}:v9`)) as { Digest: string }).toMatchObject({ Digest: exportedDigest });
    const bad = await run(bin, ['image', 'import', join(tmp.path, 'nope'), 'cli/x:v1', '--registry', registry.url, '--json']).catch((e: { code: number; stdout: string }) => e);
    expect((bad as { code: number }).code).toBe(2);
    expect((JSON.parse((bad as { stdout: string }).stdout) as { error: { code: string } }).error.code).toBe('INVALID_IMAGE_LAYOUT');
  });
});

describeWithTools(['docker-registry', 'containerd', 'ctr'], 'containerd pulls and unpacks a synthesised image', () => {
  it('unpacks the random file of every layer', async () => {
    await using registry = await distributionRegistry.start({});
    const client = new RegistryClient({ baseUrl: registry.url });
    await pushSynthImage(client, 'synth/ctr', 'v1', { layers: [123_456, 777] });
    await using containerd = await startContainerd({ label: 'synth-interop', snapshotter: 'native' });
    await containerd.ctr(['image', 'pull', '--plain-http', '--snapshotter', 'native', `${registry.host}/synth/ctr:v1`]);
    const snapshots = join(containerd.root, 'io.containerd.snapshotter.v1.native', 'snapshots');
    const sizes: Record<string, number> = {};
    for (const id of await readdir(snapshots)) {
      for (const name of await readdir(join(snapshots, id, 'pullbench')).catch(() => [] as string[])) {
        sizes[name] = (await stat(join(snapshots, id, 'pullbench', name))).size;
      }
    }
    expect(sizes).toEqual({ 'layer-0.bin': 123_456, 'layer-1.bin': 777 });
  });
});
