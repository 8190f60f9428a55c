import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { MANIFEST_ACCEPT, MediaType } from '../../src/oci/media-types.js';
import { startRegistryServer, type RunningRegistryServer } from '../../src/registry/server.js';
import { errorCode, makeImage, pushImage } from './helpers.js';

describe('image indexes and Docker media types', () => {
  let reg: RunningRegistryServer;
  beforeAll(async () => {
    reg = await startRegistryServer({ storage: 'memory' });
  });
  afterAll(async () => reg.close());

  it('accepts an index only once its child manifests exist, and serves it with its own type', async () => {
    const amd64 = makeImage([100]);
    const arm64 = makeImage([200]);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.DockerManifestList,
        manifests: [amd64, arm64].map((img, i) => ({
          mediaType: MediaType.OciManifest,
          digest: img.manifestDigest,
          size: img.manifest.length,
          platform: { os: 'linux', architecture: i === 0 ? 'amd64' : 'arm64' },
        })),
      }),
    );
    const put = (): Promise<Response> =>
      fetch(`${reg.url}/v2/multi/manifests/latest`, { method: 'PUT', body: index, headers: { 'Content-Type': MediaType.DockerManifestList } });
    await pushImage(reg.url, 'multi', amd64, 'amd64');
    const early = await put();
    expect(await errorCode(early)).toBe('MANIFEST_BLOB_UNKNOWN');
    await pushImage(reg.url, 'multi', arm64, 'arm64');
    expect((await put()).status).toBe(201);
    const got = await fetch(`${reg.url}/v2/multi/manifests/latest`, { headers: { Accept: MANIFEST_ACCEPT } });
    expect(got.headers.get('content-type')).toBe(MediaType.DockerManifestList);
    expect(got.headers.get('docker-content-digest')).toBe(digestOf(index));
    const ociOnly = await fetch(`${reg.url}/v2/multi/manifests/latest`, { headers: { Accept: `${MediaType.OciManifest}, ${MediaType.OciIndex}` } });
    expect(ociOnly.status).toBe(404);
    const wrongType = await fetch(`${reg.url}/v2/multi/manifests/x`, { method: 'PUT', body: index, headers: { 'Content-Type': MediaType.OciIndex } });
    expect(await errorCode(wrongType)).toBe('MANIFEST_INVALID');
  });
});
