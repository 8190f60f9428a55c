import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDockerd, type StartedDockerd } from '../../src/docker/dockerd.js';
import { ensureDockerNetwork, KIND_NETWORK_OPTIONS, type DockerCli } from '../../src/docker/network.js';
import { RegistryClient } from '../../src/oci/client.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { prepareNetwork } from '../../src/run/real-cluster.js';
import { parseScenario } from '../../src/scenario/load.js';
import { describeWithTools } from '../helpers/interop.js';

describeWithTools(['dockerd', 'docker'], 'the run network on a private dockerd', () => {
  let dockerd: StartedDockerd;
  let docker: DockerCli;
  beforeAll(async () => {
    dockerd = await startDockerd({ label: 'network' });
    docker = (args) => dockerd.docker(args);
  });
  afterAll(async () => {
    await dockerd?.stop();
  });
  const networks = async (): Promise<string[]> => (await docker(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n').filter(Boolean);

  it('creates the network, and after the run it is gone', async () => {
    {
      await using net = await ensureDockerNetwork('pullbench', { dockerHost: dockerd.host });
      expect(net.created).toBe(true);
      expect(await networks()).toContain('pullbench');
    }
    expect(await networks()).not.toContain('pullbench');
  });

  it("a k3s run's network: prepareNetwork creates `pullbench` before the containers and removes it when disposed", async () => {
    const { scenario } = parseScenario(
      [
        'apiVersion: pullbench.dev/v1alpha1',
        'kind: Scenario',
        'metadata: { name: k3s-net }',
        'images: [{ ref: bench/app:v1, synth: { layers: [1MB] } }]',
        'rollouts: [{ name: app, daemonSet: { image: bench/app:v1 } }]',
        'registry: { provider: container }',
        'cluster: { driver: k3s, nodes: 1 }',
      ].join('\n'),
      'k3s.yaml',
    );
    // prepareNetwork runs the docker CLI as pullbench run does: against DOCKER_HOST.
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = dockerd.host;
    try {
      const net = await prepareNetwork(scenario);
      expect(await networks()).toContain('pullbench');
      await net[Symbol.asyncDispose]();
      expect(await networks()).not.toContain('pullbench');
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });

  it('leaves a network that was there before', async () => {
    await docker(['network', 'create', 'kind']);
    try {
      {
        await using net = await ensureDockerNetwork('kind', { dockerHost: dockerd.host });
        expect(net.created).toBe(false);
      }
      expect(await networks()).toContain('kind');
    } finally {
      await docker(['network', 'rm', 'kind']);
    }
  });

  it('keeps a network a container still uses (a kept kind cluster), as kind would find it', async () => {
    await using registry: StartedRegistry = await embeddedRegistry.start({});
    await pushSynthImage(new RegistryClient({ baseUrl: registry.url }), 'net/node', 'v1', { layers: [1000] });
    const image = `${registry.host}/net/node:v1`;
    await docker(['pull', image]);
    const net = await ensureDockerNetwork('kind', { dockerHost: dockerd.host, driverOptions: KIND_NETWORK_OPTIONS });
    expect(net.created).toBe(true);
    const options = JSON.parse((await docker(['network', 'inspect', '--format', '{{json .Options}}', 'kind'])).stdout) as Record<string, string>;
    expect(options).toMatchObject(KIND_NETWORK_OPTIONS);
    await docker(['run', '-d', '--name', 'kept-node', '--network', 'kind', '--network-alias', 'pullbench-registry', image]);
    try {
      expect(await net.remove()).toBe('kept');
      expect(await networks()).toContain('kind');
    } finally {
      await docker(['rm', '-f', 'kept-node']);
      await docker(['network', 'rm', 'kind']);
    }
  });
});
