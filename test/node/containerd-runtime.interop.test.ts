import { afterAll, beforeAll, expect, it } from 'vitest';
import { ContainerdRuntime } from '../../src/node/runtimes/containerd.js';
import { describeWithTools } from '../helpers/interop.js';
import { distributionRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { createHash } from 'node:crypto';
import { hostPlatform } from '../../src/oci/platform.js';
import { pushIndex, pushImage, synthImage, type SynthImage } from './helpers/images.js';

describeWithTools(['containerd', 'ctr', 'docker-registry'], 'the containerd runtime over CRI', () => {
  let registry: StartedRegistry;
  let runtime: ContainerdRuntime;
  let img: SynthImage;
  beforeAll(async () => {
    registry = await distributionRegistry.start({});
    img = synthImage([200_000, 50_000]);
    await pushImage(registry.url, 'team/app', 'v1', img);
    runtime = await ContainerdRuntime.start({
      label: 'cri-test',
      hostsToml: { [registry.host]: `server = "http://${registry.host}"\n` },
    });
  });
  afterAll(async () => {
    await runtime?.[Symbol.asyncDispose]();
    await registry?.[Symbol.asyncDispose]();
  });

  it('reports an absent image as undefined rather than an error', async () => {
    expect(await runtime.imageStatus(`${registry.host}/team/app:v1`)).toBeUndefined();
  });

  it('pulls over plain HTTP via hosts.toml and reports the image as containerd sees it', async () => {
    const ref = await runtime.pullImage(`${registry.host}/team/app:v1`);
    expect(ref).toBe(img.configDigest);
    const status = await runtime.imageStatus(`${registry.host}/team/app:v1`);
    expect(status).toMatchObject({
      id: img.configDigest,
      repoTags: [`${registry.host}/team/app:v1`],
      repoDigests: [`${registry.host}/team/app@${img.manifestDigest}`],
    });
    // containerd's CRI size is every content blob of the image: manifest + config + compressed layers.
    expect(status?.size).toBe(img.contentSize);
    expect((await runtime.listImages()).map((i) => i.id)).toContain(img.configDigest);
  });

  it('fails a pull of a missing tag with containerd\'s NotFound error', async () => {
    await expect(runtime.pullImage(`${registry.host}/team/app:nope`)).rejects.toMatchObject({ code: 'RUNTIME_ERROR' });
  });

  it('pulls the host platform from an index; size and repoDigests count the index, as the embedded runtime does', async () => {
    const arch = hostPlatform().architecture;
    const mine = synthImage([40_000], { architecture: arch });
    const other = synthImage([40_000], { architecture: arch === 'arm64' ? 'amd64' : 'arm64' });
    const index = await pushIndex(registry.url, 'team/multi', 'v1', [
      { img: other, architecture: arch === 'arm64' ? 'amd64' : 'arm64' },
      { img: mine, architecture: arch },
    ]);
    const indexDigest = `sha256:${createHash('sha256').update(index).digest('hex')}`;
    expect(await runtime.pullImage(`${registry.host}/team/multi:v1`)).toBe(mine.configDigest);
    expect(await runtime.imageStatus(`${registry.host}/team/multi:v1`)).toMatchObject({
      repoDigests: [`${registry.host}/team/multi@${indexDigest}`],
      size: index.length + mine.contentSize,
    });
  });

  it('removes an image', async () => {
    await runtime.removeImage(`${registry.host}/team/app:v1`);
    expect(await runtime.imageStatus(`${registry.host}/team/app:v1`)).toBeUndefined();
  });
});
