import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDockerd, type StartedDockerd } from '../../src/docker/dockerd.js';
import { buildLocalRegistryImage } from '../../src/docker/registry-image.js';
import { isPullbenchError } from '../../src/errors.js';
import { RegistryClient } from '../../src/oci/client.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { embeddedRegistry } from '../../src/registry/provider.js';
import { containerRegistry } from '../../src/registry/providers/container.js';
import { describeWithTools } from '../helpers/interop.js';

async function readAll(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

describeWithTools(['dockerd', 'docker', 'docker-registry'], 'the container registry provider on a private dockerd', () => {
  let dockerd: StartedDockerd;
  let image: string;
  beforeAll(async () => {
    dockerd = await startDockerd({ label: 'container-provider' });
    image = (await buildLocalRegistryImage(dockerd)).tag;
  });
  afterAll(async () => {
    await dockerd?.stop();
  });

  async function pushSmallImage(client: RegistryClient, repo: string): Promise<{ manifest: string; layer: string }> {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const layer = Buffer.from(`pullbench layer bytes for ${repo} `.repeat(1000));
    const configDesc = await client.pushBlob(repo, config);
    const layerDesc = await client.pushBlob(repo, layer);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: configDesc.digest, size: config.length },
        layers: [{ mediaType: MediaType.OciLayerGzip, digest: layerDesc.digest, size: layer.length }],
      }),
    );
    const pushed = await client.putManifest(repo, 'v1', manifest, MediaType.OciManifest);
    expect(pushed.digest).toBe(digestOf(manifest));
    return { manifest: pushed.digest, layer: layerDesc.digest };
  }

  async function pullThrough(mirrorUrl: string, repo: string, want: { manifest: string; layer: string }): Promise<void> {
    const viaMirror = new RegistryClient({ baseUrl: mirrorUrl });
    const got = await viaMirror.getManifest(repo, 'v1');
    expect(got.descriptor.digest).toBe(want.manifest);
    const blob = await viaMirror.getBlob(repo, want.layer);
    expect(digestOf(await readAll(blob.body))).toBe(want.layer);
  }

  it('serves pushes and pulls with htpasswd auth, and refuses anonymous clients', async () => {
    const provider = containerRegistry({ image, dockerHost: dockerd.host });
    const alice = { username: 'alice', password: 'wonderland-pw' };
    await using registry = await provider.start({ users: [alice] });
    expect(registry.version()).toMatch(/^distribution \d+\.\d+\.\d+/);
    expect((await fetch(`${registry.url}/v2/`)).status).toBe(401);
    const client = new RegistryClient({ baseUrl: registry.url, credentials: alice });
    const pushed = await pushSmallImage(client, 'team/app');
    expect((await client.getManifest('team/app', 'v1')).descriptor.digest).toBe(pushed.manifest);
    const ids = (await dockerd.docker(['ps', '-q', '--filter', 'label=io.pullbench.provider=container'])).stdout.trim().split('\n');
    const env = await dockerd.docker(['inspect', '--format', '{{json .Config.Env}}', ...ids]);
    expect(env.stdout).not.toContain(alice.password);
  });

  it('pulls through a container mirror of a container registry', async () => {
    const provider = containerRegistry({ image, dockerHost: dockerd.host });
    await using registry = await provider.start({});
    const pushed = await pushSmallImage(new RegistryClient({ baseUrl: registry.url }), 'team/web');
    await using mirror = await provider.start({ upstream: { url: registry.url } });
    await pullThrough(mirror.url, 'team/web', pushed);
    // Counted from distribution's own request log, once the log has caught up with the responses.
    const t0 = performance.now();
    await Promise.all([mirror.statsCaughtUp!(), registry.statsCaughtUp!()]);
    // On the marked requests' log lines, not on the 2 s give-up.
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(mirror.stats()).toMatchObject({ manifestGet: 1, blobGet: 1 });
    expect(mirror.stats().bytesServed).toBeGreaterThan(22_000);
    expect(registry.stats().upload).toBeGreaterThanOrEqual(4);
  });

  // distribution's proxy sends upstream credentials only to bearer-token realms (registry/proxy/proxyauth.go),
  // so an authenticated upstream is our embedded registry in token mode.
  it('pulls through a container mirror that logs in to a token-auth upstream', async () => {
    const bob = { username: 'bob', password: 'token-upstream-pw' };
    await using upstream = await embeddedRegistry.start({ auth: 'token', users: [bob] });
    const pushed = await pushSmallImage(new RegistryClient({ baseUrl: upstream.url, credentials: bob }), 'team/api');
    const provider = containerRegistry({ image, dockerHost: dockerd.host });
    await using mirror = await provider.start({ upstream: { url: upstream.url, credentials: bob } });
    await pullThrough(mirror.url, 'team/api', pushed);
  });

  it('removes its containers when disposed', async () => {
    const provider = containerRegistry({ image, dockerHost: dockerd.host });
    const registry = await provider.start({});
    await registry[Symbol.asyncDispose]();
    const { stdout } = await dockerd.docker(['ps', '-a', '--filter', 'label=io.pullbench.provider=container', '-q']);
    expect(stdout.trim()).toBe('');
    await expect(fetch(`${registry.url}/v2/`)).rejects.toThrow();
  });

  it('fails with REGISTRY_START_FAILED for an image that is not there, without pulling forever', async () => {
    const provider = containerRegistry({ image: 'pullbench/absent-image:none', dockerHost: dockerd.host, readyTimeoutMs: 10_000 });
    const err = await provider.start({}).catch((e: unknown) => e);
    expect(isPullbenchError(err, 'REGISTRY_START_FAILED')).toBe(true);
  });
});
