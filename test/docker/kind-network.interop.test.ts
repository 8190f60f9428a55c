import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDockerd, type StartedDockerd } from '../../src/docker/dockerd.js';
import { ensureDockerNetwork, KIND_NETWORK_OPTIONS } from '../../src/docker/network.js';
import { buildLocalRegistryImage } from '../../src/docker/registry-image.js';
import { RegistryClient } from '../../src/oci/client.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { containerRegistry } from '../../src/registry/providers/container.js';
import { describeWithTools } from '../helpers/interop.js';

// What a kind run sets up before `kind create cluster`, without kind: the network, then the registry and mirror
// containers on it (the `container` provider, as pullbench run starts them) under the aliases the nodes' hosts.toml
// names. testcontainers adds aliases by creating a container on the default network and connecting it to the named
// one, so this dockerd gets a default bridge of its own.
describeWithTools(['dockerd', 'docker', 'docker-registry', 'ip'], 'registry containers on the run network, reached by alias as kind nodes reach them', () => {
  let dockerd: StartedDockerd;
  let image: string;
  beforeAll(async () => {
    dockerd = await startDockerd({ label: 'kind-network', defaultBridge: true });
    image = (await buildLocalRegistryImage(dockerd)).tag;
  });
  afterAll(async () => {
    await dockerd?.stop();
  });

  it('the mirror container fetches from http://pullbench-registry:5000 over the network; afterwards containers and network are gone', async () => {
    const name = 'kind';
    let bridge = '';
    {
      await using net = await ensureDockerNetwork(name, { dockerHost: dockerd.host, driverOptions: KIND_NETWORK_OPTIONS });
      expect(net.created).toBe(true);
      bridge = `/sys/class/net/br-${(await dockerd.docker(['network', 'inspect', '--format', '{{.Id}}', name])).stdout.trim().slice(0, 12)}`;
      const provider = (alias: string) => containerRegistry({ image, dockerHost: dockerd.host, network: { name, aliases: [alias] } });
      await using registry = await provider('pullbench-registry').start({});
      const pushed = await pushSynthImage(new RegistryClient({ baseUrl: registry.url }), 'bench/app', 'v1', { layers: [30_000], seed: 'kind-network' });
      // The mirror's upstream is a name only Docker's DNS on the network knows, like hosts.toml's endpoints on a kind node.
      await using mirror = await provider('pullbench-mirror').start({ upstream: { url: 'http://pullbench-registry:5000' } });
      const viaMirror = new RegistryClient({ baseUrl: mirror.url });
      expect((await viaMirror.getManifest('bench/app', 'v1')).descriptor.digest).toBe(pushed.descriptor.digest);
      for (const layer of pushed.images[0]!.layers) {
        const blob = await viaMirror.getBlob('bench/app', layer.digest);
        let bytes = 0;
        for await (const chunk of blob.body) bytes += (chunk as Buffer).length;
        expect(bytes).toBe(layer.size);
      }
      await expect.poll(() => registry.stats().blobGet).toBeGreaterThanOrEqual(pushed.images[0]!.layers.length);
    }
    expect((await dockerd.docker(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n')).not.toContain(name);
    expect((await dockerd.docker(['ps', '-aq'])).stdout.trim()).toBe('');
    expect(existsSync(bridge)).toBe(false);
  });
});
