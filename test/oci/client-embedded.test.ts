import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/oci/client.js';
import { digestOf } from '../../src/oci/digest.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { MediaType, type ImageManifest } from '../../src/oci/media-types.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';

// The embedded registry implements OCI 1.1 referrers, which distribution 2.8 lacks.
describe('RegistryClient referrers against the embedded registry', () => {
  let registry: StartedRegistry;
  let client: RegistryClient;
  beforeAll(async () => {
    registry = await embeddedRegistry.start({ storage: 'memory', port: 0 });
    client = new RegistryClient({ baseUrl: registry.url });
  });
  afterAll(async () => {
    await registry?.[Symbol.asyncDispose]();
  });

  async function pushReferrer(subject: { digest: string; size: number }, artifactType: string, content: string): Promise<string> {
    const empty = await client.pushBlob('app', Buffer.from('{}'));
    const blob = await client.pushBlob('app', Buffer.from(content));
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType,
      config: { mediaType: MediaType.OciEmpty, digest: empty.digest, size: empty.size },
      layers: [{ mediaType: 'application/octet-stream', digest: blob.digest, size: blob.size }],
      subject: { mediaType: MediaType.OciManifest, digest: subject.digest, size: subject.size },
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    return (await client.putManifest('app', digestOf(bytes), bytes, MediaType.OciManifest)).digest;
  }

  it('lists the manifests that refer to an image, filtered by artifactType', async () => {
    const image = await pushSynthImage(client, 'app', 'v1', { layers: [100] });
    const sig = await pushReferrer(image.descriptor, 'application/vnd.example.sig', 'sig');
    const sbom = await pushReferrer(image.descriptor, 'application/vnd.example.sbom', 'sbom');
    const all = await client.referrers('app', image.descriptor.digest);
    expect(all.manifests.map((m) => m.digest).sort()).toEqual([sig, sbom].sort());
    const sigs = await client.referrers('app', image.descriptor.digest, 'application/vnd.example.sig');
    expect(sigs.manifests.map((m) => m.digest)).toEqual([sig]);
    expect(sigs.manifests[0]!.artifactType).toBe('application/vnd.example.sig');
  });

  it('lists tags and deletes manifests there too', async () => {
    await pushSynthImage(client, 'tags', 'a', { layers: [10] });
    const b = await pushSynthImage(client, 'tags', 'b', { layers: [20] });
    expect((await client.listTags('tags', { pageSize: 1 })).sort()).toEqual(['a', 'b']);
    await client.deleteManifest('tags', b.descriptor.digest);
    await expect(client.getManifest('tags', b.descriptor.digest)).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
  });
});
