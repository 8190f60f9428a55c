import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDockerd, type StartedDockerd } from '../../src/docker/dockerd.js';
import { ensureDockerNetwork, KIND_NETWORK_OPTIONS } from '../../src/docker/network.js';
import { buildLocalRegistryImage } from '../../src/docker/registry-image.js';
import { RegistryClient } from '../../src/oci/client.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { describeWithTools } from '../helpers/interop.js';

// What a kind run sets up before `kind create cluster`, without kind: the network, then the registry and
// mirror containers on it under the aliases the nodes' hosts.toml names. The containers are started with
// `docker run` here: the private dockerd runs with --bridge=none, where testcontainers' way of adding
// aliases (create on the default bridge, then connect) leaves a container without an interface.
describeWithTools(['dockerd', 'docker', 'docker-registry'], 'registry containers on the run network, reached by alias as kind nodes reach them', () => {
  let dockerd: StartedDockerd;
  let image: string;
  beforeAll(async () => {
    dockerd = await startDockerd({ label: 'kind-network' });
    image = (await buildLocalRegistryImage(dockerd)).tag;
  });
  afterAll(async () => {
    await dockerd?.stop();
  });

  const run = async (name: string, alias: string, env: Record<string, string> = {}): Promise<string> => {
    const envArgs = Object.entries({ REGISTRY_HTTP_ADDR: '0.0.0.0:5000', ...env }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    await dockerd.docker(['run', '-d', '--name', name, '--network', 'kind', '--network-alias', alias, '-p', '127.0.0.1::5000', ...envArgs, image]);
    const url = `http://${(await dockerd.docker(['port', name, '5000'])).stdout.trim().split('\n')[0]!}`;
    await expect.poll(() => fetch(`${url}/v2/`).then((r) => r.status, () => 0), { timeout: 20_000 }).toBe(200);
    return url;
  };

  it('the mirror container fetches from http://pullbench-registry:5000 over the network; afterwards the network is gone', async () => {
    {
      await using net = await ensureDockerNetwork('kind', { dockerHost: dockerd.host, driverOptions: KIND_NETWORK_OPTIONS });
      expect(net.created).toBe(true);
      try {
        const registryUrl = await run('pb-registry', 'pullbench-registry');
        const pushed = await pushSynthImage(new RegistryClient({ baseUrl: registryUrl }), 'bench/app', 'v1', { layers: [30_000], seed: 'kind-network' });
        // The mirror's upstream is a name only Docker's DNS on the network knows, like hosts.toml's endpoints on a kind node.
        const mirrorUrl = await run('pb-mirror', 'pullbench-mirror', { REGISTRY_PROXY_REMOTEURL: 'http://pullbench-registry:5000' });
        const viaMirror = new RegistryClient({ baseUrl: mirrorUrl });
        expect((await viaMirror.getManifest('bench/app', 'v1')).descriptor.digest).toBe(pushed.descriptor.digest);
        for (const layer of pushed.images[0]!.layers) {
          const blob = await viaMirror.getBlob('bench/app', layer.digest);
          let bytes = 0;
          for await (const chunk of blob.body) bytes += (chunk as Buffer).length;
          expect(bytes).toBe(layer.size);
        }
      } finally {
        await dockerd.docker(['rm', '-f', 'pb-registry', 'pb-mirror']).catch(() => undefined);
      }
    }
    expect((await dockerd.docker(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n')).not.toContain('kind');
  });
});
