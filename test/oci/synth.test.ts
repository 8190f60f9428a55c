import { afterEach, describe, expect, it } from 'vitest';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buffer } from 'node:stream/consumers';
import { randomLayerTar, synthesizeImage, type SynthImage } from '../../src/oci/synth.js';
import { importLayout, layoutSink, writeLayout, REF_NAME } from '../../src/oci/layout.js';
import { RegistryClient } from '../../src/oci/client.js';
import { startFakeRegistry } from './helpers/fake-registry.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType, type ImageIndex, type ImageManifest } from '../../src/oci/media-types.js';
import { makeTempDir, type TempDir } from '../../src/util/temp.js';
import { isPullbenchError } from '../../src/errors.js';
import { pauseBinary } from '../../src/oci/pause-binary.js';

const dirs: TempDir[] = [];
async function tempDir(): Promise<string> {
  const d = await makeTempDir('pullbench-synth-test-');
  dirs.push(d);
  return d.path;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await d.remove();
});

const blob = (dir: string, digest: string): Promise<Buffer> => readFile(join(dir, 'blobs', 'sha256', digest.slice(7)));

/** Entries of an uncompressed tar: name, type flag and size. */
function tarEntries(tar: Buffer): { name: string; type: string; size: number }[] {
  const out: { name: string; type: string; size: number }[] = [];
  for (let off = 0; off + 512 <= tar.length; ) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/s, ''), 8);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    expect(parseInt(h.subarray(148, 156).toString('ascii'), 8)).toBe(sum);
    out.push({ name, type: String.fromCharCode(h[156]!), size });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe('synthesised layers', () => {
  it('are real tars holding one file of incompressible bytes, the same for the same seed', async () => {
    const a = await buffer(randomLayerTar('s', 'f.bin', 1000));
    const b = await buffer(randomLayerTar('s', 'f.bin', 1000));
    const c = await buffer(randomLayerTar('t', 'f.bin', 1000));
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
    expect(a.length % 512).toBe(0);
    expect(tarEntries(a)).toEqual([
      { name: 'pullbench/', type: '5', size: 0 },
      { name: 'pullbench/f.bin', type: '0', size: 1000 },
    ]);
  });
});

describe('writeLayout', () => {
  it('gives the same digests for the same seed, and different ones for another seed', async () => {
    const spec = { layers: [100_000, 2000], seed: 7 };
    const one = await writeLayout(await tempDir(), spec, 'v1');
    const two = await writeLayout(await tempDir(), spec, 'v1');
    const other = await writeLayout(await tempDir(), { ...spec, seed: 8 }, 'v1');
    expect(two.descriptor.digest).toBe(one.descriptor.digest);
    expect(two.images[0]!.layers.map((l) => l.digest)).toEqual(one.images[0]!.layers.map((l) => l.digest));
    expect(other.descriptor.digest).not.toBe(one.descriptor.digest);
  });

  it('is pinned: uncompressed content and manifests do not change between versions of pullbench or Node', async () => {
    const image = await writeLayout(await tempDir(), { layers: [1_000_000, 1000], seed: 'golden', compression: 'none' }, 'v1');
    expect(image.images[0]!.layers.map((l) => l.diffId)).toEqual([
      // the random layers (the same bytes as before the entrypoint layer existed), then the /pause entrypoint layer
      'sha256:f78beec937a50436c17d225791f732966c6580193c05daa4ea5e40b743b9af51',
      'sha256:657830af1365dac2220c72c4e3a71e9be5b61cae5b910d7ab06d67a7a21ebd10',
      'sha256:669ac6b343d4d5a0db6d3b2f78956a742b28d63ce6e2694468108304deef04b4',
    ]);
    expect(image.descriptor.digest).toBe('sha256:3cca27c2b617dc28738f25d531625aaaf7c67168d0e7683b9caf21ab9bb038c3');
  });

  it('writes a valid OCI layout: config diff_ids match the uncompressed layers', async () => {
    const dir = await tempDir();
    const image = await writeLayout(dir, { layers: [300_000, 0], seed: 'x' }, 'v1');
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
    expect(index.manifests).toEqual([{ ...image.descriptor, annotations: { [REF_NAME]: 'v1' } }]);
    const manifestBytes = await blob(dir, image.descriptor.digest);
    expect(digestOf(manifestBytes)).toBe(image.descriptor.digest);
    const manifest = JSON.parse(manifestBytes.toString()) as ImageManifest;
    expect(manifest.mediaType).toBe(MediaType.OciManifest);
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([MediaType.OciLayerGzip, MediaType.OciLayerGzip, MediaType.OciLayerGzip]);
    const config = JSON.parse((await blob(dir, manifest.config.digest)).toString()) as {
      os: string;
      architecture: string;
      config: { Entrypoint: string[] };
      rootfs: { diff_ids: string[] };
    };
    expect(config).toMatchObject({ os: 'linux', architecture: 'amd64', config: { Entrypoint: ['/pause'] } });
    const tars: Buffer[] = [];
    for (const [i, layer] of manifest.layers.entries()) {
      const gz = await blob(dir, layer.digest);
      expect(gz.length).toBe(layer.size);
      const tar = gunzipSync(gz);
      expect(digestOf(tar)).toBe(config.rootfs.diff_ids[i]);
      tars.push(tar);
    }
    expect(tarEntries(tars[0]!)[1]).toMatchObject({ name: 'pullbench/layer-0.bin', size: 300_000 });
    expect(tarEntries(tars[1]!)[1]).toMatchObject({ name: 'pullbench/layer-1.bin', size: 0 });
    expect(tarEntries(tars[2]!)).toEqual([{ name: 'pause', type: '0', size: pauseBinary('amd64')!.length }]);
    expect(tars[2]!.subarray(100, 107).toString('ascii')).toBe('0000755'); // executable
    expect(manifest.layers[0]!.size).toBeGreaterThan(300_000); // incompressible
    expect(manifest.layers[2]!.size).toBeLessThan(400); // the entrypoint layer is small
    expect((await readdir(join(dir, 'blobs', 'sha256'))).filter((f) => f.startsWith('.tmp'))).toEqual([]);
  });

  it('writes uncompressed layers with compression none (digest = diff_id)', async () => {
    const dir = await tempDir();
    const image = await writeLayout(dir, { layers: [5000], compression: 'none' }, 'plain');
    expect(image.images[0]!.layers).toHaveLength(2);
    for (const layer of image.images[0]!.layers) {
      expect(layer.mediaType).toBe(MediaType.OciLayerTar);
      expect(layer.digest).toBe(layer.diffId);
    }
  });

  it('makes an OCI index with one manifest and its own layers per platform', async () => {
    const dir = await tempDir();
    const image = await writeLayout(
      dir,
      { layers: [1000], platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm', variant: 'v7' }] },
      'multi',
    );
    expect(image.descriptor.mediaType).toBe(MediaType.OciIndex);
    const index = JSON.parse((await blob(dir, image.descriptor.digest)).toString()) as ImageIndex;
    expect(index.manifests.map((m) => m.platform)).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ]);
    expect(new Set(image.images.map((i) => i.layers[0]!.digest)).size).toBe(3);
    const armConfig = JSON.parse((await blob(dir, image.images[2]!.config.digest)).toString()) as { architecture: string; variant: string };
    expect(armConfig).toMatchObject({ architecture: 'arm', variant: 'v7' });
  });

  it('builds v2 on v1: the same base layers first, then new ones', async () => {
    const dir = await tempDir();
    const v1: SynthImage = await writeLayout(dir, { layers: [4000, 3000], seed: 1 }, 'v1');
    const base = { images: v1.images.map((i) => ({ platform: i.platform, layers: i.layers })) };
    const v2 = await writeLayout(dir, { layers: [2000], seed: 1, base }, 'v2');
    const l1 = v1.images[0]!.layers;
    const l2 = v2.images[0]!.layers;
    // v1's entrypoint layer is v2's too: it is not added a second time.
    expect(l2.slice(0, 3).map((l) => l.digest)).toEqual(l1.map((l) => l.digest));
    expect(l2.map((l) => l.shared)).toEqual([true, true, true, false]);
    expect(l2.map((l) => l.entrypoint === true)).toEqual([false, false, true, false]);
    expect(v2.images[0]!.entrypoint).toEqual(['/pause']);
    expect(l1.map((l) => l.digest)).not.toContain(l2[3]!.digest);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
    expect(index.manifests.map((m) => m.annotations?.[REF_NAME])).toEqual(['v1', 'v2']);
  });

  it('refuses a bad spec with every problem at once', async () => {
    const err = await writeLayout(await tempDir(), { layers: [-1, 1.5], gzipLevel: 12 }, 'x').catch((e: unknown) => e);
    expect(isPullbenchError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as { details: { problems: string[] } }).details.problems).toHaveLength(3);
  });

  it('refuses a base whose layers the layout does not hold', async () => {
    const v1 = await writeLayout(await tempDir(), { layers: [10] }, 'v1');
    const err = await writeLayout(await tempDir(), { layers: [10], base: { images: [{ platform: v1.images[0]!.platform, layers: v1.images[0]!.layers }] } }, 'v2').catch((e: unknown) => e);
    expect(isPullbenchError(err, 'BLOB_UNKNOWN')).toBe(true);
  });
});

describe('importLayout', () => {
  it('refuses a directory that is not an OCI layout', async () => {
    const err = await importLayout(await tempDir(), new RegistryClient({ baseUrl: 'http://127.0.0.1:1' }), 'app', 'v1').catch((e: unknown) => e);
    expect(isPullbenchError(err, 'INVALID_IMAGE_LAYOUT')).toBe(true);
  });

  it('asks which image when the layout holds several and none is named', async () => {
    const dir = await tempDir();
    await writeLayout(dir, { layers: [10] }, 'a');
    await writeLayout(dir, { layers: [20] }, 'b');
    const err = await importLayout(dir, new RegistryClient({ baseUrl: 'http://127.0.0.1:1' }), 'app', 'v1').catch((e: unknown) => e);
    expect(isPullbenchError(err, 'INVALID_IMAGE_LAYOUT')).toBe(true);
  });

  it('fails a tampered manifest before pushing anything', async () => {
    const dir = await tempDir();
    const image = await writeLayout(dir, { layers: [10] }, 'v1');
    const path = join(dir, 'blobs', 'sha256', image.descriptor.digest.slice(7));
    const bytes = await readFile(path);
    bytes[bytes.length - 2]! ^= 1;
    await writeFile(path, bytes);
    const err = await importLayout(dir, new RegistryClient({ baseUrl: 'http://127.0.0.1:1' }), 'app', 'v1').catch((e: unknown) => e);
    expect(isPullbenchError(err, 'DIGEST_MISMATCH')).toBe(true);
  });

  it('fails a tampered layer with DIGEST_MISMATCH while it uploads', async () => {
    const dir = await tempDir();
    const image = await writeLayout(dir, { layers: [100_000] }, 'v1');
    const layer = image.images[0]!.layers[0]!;
    const path = join(dir, 'blobs', 'sha256', layer.digest.slice(7));
    const bytes = await readFile(path);
    bytes[5000]! ^= 1;
    await writeFile(path, bytes);
    await using fake = await startFakeRegistry((req, res) => {
      if (req.method === 'HEAD') return void res.writeHead(404).end();
      if (req.method === 'POST') return void res.writeHead(202, { location: '/v2/app/blobs/uploads/1' }).end();
      res.writeHead(201).end();
    });
    const err = await importLayout(dir, new RegistryClient({ baseUrl: fake.url }), 'app', 'v1').catch((e: unknown) => e);
    expect(isPullbenchError(err, 'DIGEST_MISMATCH')).toBe(true);
    expect(fake.requests.some((r) => r.method === 'PUT' && r.url.includes('/manifests/'))).toBe(false);
  });
});

describe('progress', () => {
  it('reports every layer once, shared ones first', async () => {
    const dir = await tempDir();
    const v1 = await writeLayout(dir, { layers: [100] }, 'v1');
    const sink = await layoutSink(dir);
    const events: string[] = [];
    await synthesizeImage({ layers: [200, 300], base: { images: v1.images } }, sink, 'v2', (p) => events.push(`${p.layer}/${p.of} ${p.shared ? 'shared' : 'new'}`));
    expect(events).toEqual(['1/4 shared', '2/4 shared', '3/4 new', '4/4 new']); // v1's layer and its entrypoint layer, then two new
  });
});

describe('bases for other platforms', () => {
  it('refuses a base that has nothing for the platform asked for', async () => {
    const dir = await tempDir();
    const v1 = await writeLayout(dir, { layers: [10], platforms: [{ os: 'linux', architecture: 'arm64' }] }, 'v1');
    const err = await writeLayout(dir, { layers: [10], base: { images: v1.images } }, 'v2').catch((e: unknown) => e);
    expect(isPullbenchError(err, 'PLATFORM_NOT_FOUND')).toBe(true);
  });
});

describe('the entrypoint layer', () => {
  type Config = { architecture: string; config: { Entrypoint?: string[] }; history: { created_by: string }[] };
  const configOf = async (dir: string, image: SynthImage, i: number): Promise<Config> =>
    JSON.parse((await blob(dir, image.images[i]!.config.digest)).toString()) as Config;

  it('holds each platform its own executable, the same blob for every image whatever the seed', async () => {
    const dir = await tempDir();
    const platforms = [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }];
    const a = await writeLayout(dir, { layers: [1000], seed: 'a', platforms }, 'a');
    const b = await writeLayout(dir, { layers: [1000], seed: 'b', platforms }, 'b');
    for (const [i, arch] of ['amd64', 'arm64'].entries()) {
      const top = a.images[i]!.layers[1]!;
      expect(top.entrypoint).toBe(true);
      expect(b.images[i]!.layers[1]!.digest).toBe(top.digest);
      expect(b.images[i]!.layers[0]!.digest).not.toBe(a.images[i]!.layers[0]!.digest);
      const tar = gunzipSync(await blob(dir, top.digest));
      expect(tar.subarray(512, 512 + pauseBinary(arch)!.length).equals(pauseBinary(arch)!)).toBe(true);
      expect(await configOf(dir, a, i)).toMatchObject({ architecture: arch, config: { Entrypoint: ['/pause'] } });
      expect((await configOf(dir, a, i)).history[1]!.created_by).toContain('/pause entrypoint');
    }
    expect(a.images[0]!.layers[1]!.digest).not.toBe(a.images[1]!.layers[1]!.digest);
  });

  it('is left out where no executable exists (linux/arm/v7), and the image has no Entrypoint', async () => {
    const dir = await tempDir();
    const image = await writeLayout(dir, { layers: [1000], platforms: [{ os: 'linux', architecture: 'arm', variant: 'v7' }] }, 'arm');
    expect(image.images[0]!.layers).toHaveLength(1);
    expect(image.images[0]!.entrypoint).toBeUndefined();
    expect((await configOf(dir, image, 0)).config.Entrypoint).toBeUndefined();
  });

  it('goes on top of the new layers when the base lacks it', async () => {
    const dir = await tempDir();
    const foreign = await writeLayout(dir, { layers: [500], platforms: [{ os: 'linux', architecture: 'arm', variant: 'v7' }] }, 'foreign');
    // The same layer, presented as an amd64 base from elsewhere.
    const base = { images: [{ platform: { os: 'linux', architecture: 'amd64' }, layers: foreign.images[0]!.layers }] };
    const image = await writeLayout(dir, { layers: [700], base }, 'app');
    expect(image.images[0]!.layers.map((l) => (l.entrypoint ? 'entrypoint' : l.shared ? 'base' : 'new'))).toEqual(['base', 'new', 'entrypoint']);
    expect(image.images[0]!.entrypoint).toEqual(['/pause']);
  });
});

describe('the pause executable', () => {
  it('is a static ELF64 executable for amd64 and arm64 whose entry point lies inside its one segment', () => {
    for (const [arch, machine] of [['amd64', 0x3e], ['arm64', 0xb7]] as const) {
      const elf = pauseBinary(arch)!;
      expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
      expect(elf.readUInt16LE(16)).toBe(2); // ET_EXEC
      expect(elf.readUInt16LE(18)).toBe(machine);
      expect(elf.readUInt32LE(64)).toBe(1); // PT_LOAD
      const vaddr = Number(elf.readBigUInt64LE(64 + 16));
      const filesz = Number(elf.readBigUInt64LE(64 + 32));
      const entry = Number(elf.readBigUInt64LE(24));
      expect(filesz).toBe(elf.length);
      expect(entry).toBeGreaterThanOrEqual(vaddr + 120);
      expect(entry).toBeLessThan(vaddr + filesz);
      expect(elf.length).toBeLessThan(256);
    }
    expect(pauseBinary('s390x')).toBeUndefined();
  });
});
