import { describe, expect, it } from 'vitest';
import { effectiveImagePullSettings } from '../../src/node/kubelet/config.js';
import { isPullbenchError, type PullbenchError } from '../../src/errors.js';
import { formatPlatform, hostPlatform } from '../../src/oci/platform.js';
import { DEFAULT_MIRROR, DEFAULT_POOL, DEFAULT_REGISTRY, fleetNames, nodeCount, registryOfImage, routeLink, scenarioPools, scenarioRegistries } from '../../src/scenario/fleet.js';
import { parseScenario, type ScenarioProblem } from '../../src/scenario/load.js';

const HEADER = 'apiVersion: pullbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: t }\n';
const ROLLOUT = 'rollouts:\n  - { name: app, daemonSet: { image: demo/app:v1 } }\n';

const FLEET = `${HEADER}registries:
  - name: public
    links: { registry: { bandwidth: 1Gbit, latency: 5ms } }
  - name: private
    auth: { type: token, users: [{ username: ci, password: s3cret }] }
    rateLimit: { manifestGets: 100 }
    mirror: { provider: embedded }
    links: { registry: { bandwidth: 400Mbit, latency: 20ms, sharedUplink: 1Gbit }, mirror: { bandwidth: 2Gbit } }
images:
  - { ref: base/os:v1, synth: { layers: [1MB], platforms: [linux/amd64, linux/arm64] } }
  - { ref: demo/app:v1, registry: private, synth: { layers: [1MB], platforms: [linux/amd64, linux/arm64] } }
pullSecrets:
  - { name: private-pull, registry: private, username: ci, password: s3cret }
cluster:
  kubelet: { maxConcurrentDownloads: 5 }
  pools:
    - { name: core, nodes: 4, platform: linux/amd64 }
    - name: edge
      nodes: 2
      platform: linux/arm64
      links: { registry: { bandwidth: 20Mbit, latency: 80ms } }
      kubelet: { serializeImagePulls: false, maxParallelImagePulls: 2 }
      kubernetesVersion: "1.33"
rollouts:
  - { name: app, daemonSet: { image: demo/app:v1, imagePullSecrets: [private-pull] } }
  - { name: edge-base, deployment: { image: base/os:v1, pool: edge, replicas: 2 } }
`;

function problemsOf(text: string, set: string[] = []): ScenarioProblem[] {
  try {
    parseScenario(text, 'bad.yaml', { set });
  } catch (err) {
    if (!isPullbenchError(err, 'SCENARIO_INVALID')) throw err;
    return (err as PullbenchError).details.problems as ScenarioProblem[];
  }
  throw new Error('expected the scenario to be rejected');
}

describe('the one-registry, one-pool form', () => {
  const { scenario } = parseScenario(`${HEADER}mirror: {}\nlinks: { registry: { bandwidth: 100Mbit } }\nimages:\n  - { ref: demo/app:v1, synth: { layers: [1MB] } }\ncluster: { nodes: 5 }\n${ROLLOUT}`, 'flat.yaml');

  it('is one registry named "registry" with a mirror named "mirror", and one pool named "default" of node-N nodes', () => {
    const [registry, ...more] = scenarioRegistries(scenario);
    expect(more).toEqual([]);
    expect(registry).toMatchObject({ name: DEFAULT_REGISTRY, provider: 'embedded', mirror: { name: DEFAULT_MIRROR }, links: { registry: { bandwidth: 100e6 } } });
    expect(scenarioPools(scenario)).toEqual([
      { name: DEFAULT_POOL, nodes: 5, links: {}, kubelet: scenario.cluster.kubelet, nodePrefix: 'node' },
    ]);
    expect(fleetNames(scenario)).toEqual({ registries: ['registry'], mirrors: ['mirror'], pools: ['default'] });
  });

  it("takes the top-level links as the registry's", () => {
    const [pool] = scenarioPools(scenario);
    const [registry] = scenarioRegistries(scenario);
    expect(routeLink(pool!, registry!, 'registry')).toEqual({ link: { bandwidth: 100e6, latency: 0, jitter: 0 }, origin: 'registry:registry:registry' });
    expect(routeLink(pool!, registry!, 'mirror')).toBeUndefined();
  });
});

describe('pools and several registries', () => {
  const { scenario } = parseScenario(FLEET, 'fleet.yaml');

  it("gives each pool cluster.kubelet under its own settings, and its own kubelet release", () => {
    const [core, edge] = scenarioPools(scenario);
    expect(core).toMatchObject({ name: 'core', nodes: 4, platform: 'linux/amd64', nodePrefix: 'core-node', kubelet: { maxConcurrentDownloads: 5 } });
    // Left unset, serializeImagePulls is kubelet's default when the node starts (true: no maxParallelImagePulls).
    expect(core!.kubelet.serializeImagePulls).toBeUndefined();
    expect(effectiveImagePullSettings(core!.kubelet).serializeImagePulls).toBe(true);
    expect(core!.kubernetesVersion).toBeUndefined();
    expect(edge).toMatchObject({ name: 'edge', platform: 'linux/arm64', kubernetesVersion: '1.33', kubelet: { maxConcurrentDownloads: 5, serializeImagePulls: false, maxParallelImagePulls: 2 } });
    expect(nodeCount(scenario)).toBe(6);
  });

  it('names every registry and mirror, and finds the registry of each image (the first by default)', () => {
    expect(fleetNames(scenario)).toEqual({ registries: ['public', 'private'], mirrors: ['private-mirror'], pools: ['core', 'edge'] });
    expect(registryOfImage(scenario, 'base/os:v1').name).toBe('public');
    expect(registryOfImage(scenario, 'demo/app:v1')).toMatchObject({ name: 'private', auth: { type: 'token' }, rateLimit: { manifestGets: 100 } });
  });

  it("lets a pool's own link win over the registry's, and keys shared uplinks by where the link was declared", () => {
    const [core, edge] = scenarioPools(scenario);
    const [pub, priv] = scenarioRegistries(scenario);
    expect(routeLink(edge!, priv!, 'registry')).toEqual({ link: { bandwidth: 20e6, latency: 80, jitter: 0 }, origin: 'pool:edge:registry' });
    expect(routeLink(core!, priv!, 'registry')?.origin).toBe('registry:private:registry');
    expect(routeLink(core!, pub!, 'registry')?.link.bandwidth).toBe(1e9);
    expect(routeLink(core!, priv!, 'mirror')?.link.bandwidth).toBe(2e9);
  });
});

describe('when the fleet is written wrong', () => {
  it('refuses the one-registry form beside registries, and nodes beside pools, at the key', () => {
    const problems = problemsOf(`${FLEET}registry: { provider: embedded }\nlinks: {}\n`, ['cluster.nodes=3']);
    expect(problems.map((p) => p.path).sort()).toEqual(['cluster.nodes', 'links', 'registry']);
    expect(problems.find((p) => p.path === 'registry')!.line).toBeGreaterThan(0);
  });

  it('refuses names used twice across registries, mirrors and pools', () => {
    const problems = problemsOf(FLEET, ['registries[1].mirror.name=core']);
    expect(problems.map((p) => p.path)).toEqual(['cluster.pools[0].name']);
    expect(problems[0]!.message).toContain('duplicate name "core": a mirror has it');
  });

  it('refuses references to registries and pools that do not exist', () => {
    const problems = problemsOf(FLEET, ['images[1].registry=privat', 'pullSecrets[0].registry=nope', 'rollouts[1].deployment.pool=edg']);
    expect(problems.map((p) => p.path).sort()).toEqual(['images[1].registry', 'pullSecrets[0].registry', 'rollouts[1].deployment.pool']);
    expect(problems.find((p) => p.path === 'images[1].registry')!.message).toContain('known: public, private');
  });

  it('refuses a registry name in the one-registry form, and a pool name other than "default" there', () => {
    const text = `${HEADER}images:\n  - { ref: demo/app:v1, registry: public, synth: { layers: [1MB] } }\nrollouts:\n  - { name: app, daemonSet: { image: demo/app:v1, pool: edge } }\n`;
    expect(problemsOf(text).map((p) => p.path).sort()).toEqual(['images[0].registry', 'rollouts[0].daemonSet.pool']);
  });

  it('refuses what a driver cannot give a pool: k3s and kubeconfig have none, kind runs the machine\'s platform, real containerd too', () => {
    // kind: a pool of another platform than this machine's, a per-pool setting kind gives every node alike, a kubelet release.
    const host = formatPlatform(hostPlatform());
    const otherPlatform = (['linux/amd64', 'linux/arm64'] as const).flatMap((p, i) => (p === host ? [] : [`cluster.pools[${i}].platform`]));
    expect(problemsOf(FLEET, ['cluster.driver=kind']).map((p) => p.path).filter((p) => p !== 'cluster.pools[0].platform' && p !== 'cluster.pools[1].platform'))
      .toEqual(['cluster.pools[1].kubelet.maxParallelImagePulls', 'cluster.pools[1].kubernetesVersion']);
    expect(problemsOf(FLEET, ['cluster.driver=kind']).map((p) => p.path).filter((p) => p.endsWith('.platform'))).toEqual(otherPlatform);
    const kindPools = `${HEADER}registry: { provider: container }\nimages:\n  - { ref: demo/app:v1, synth: { layers: [1MB] } }\ncluster:\n  driver: kind\n  pools: [{ name: core, nodes: 2 }, { name: edge, nodes: 1, links: { registry: { bandwidth: 1Mbit } } }]\n${ROLLOUT}`;
    expect(problemsOf(kindPools).map((p) => p.path)).toEqual(['cluster.pools[1].links']);
    expect(parseScenario(kindPools.replace(', links: { registry: { bandwidth: 1Mbit } }', ''), 'kind.yaml').scenario.cluster.pools).toHaveLength(2);
    expect(problemsOf(FLEET.replace(/,? ?platform: linux\/\w+/g, '').replace(/kubernetesVersion: "1.33"/, '').replace(/links: \{ registry: \{ bandwidth: 20Mbit, latency: 80ms \} \}/, '').replace(', maxParallelImagePulls: 2', ''), ['cluster.driver=kind']).map((p) => p.path))
      .toEqual(expect.arrayContaining(['registries', 'registries[0].links', 'registries[0].provider']));
    expect(problemsOf(FLEET, ['cluster.driver=k3s']).some((p) => p.path === 'cluster.pools[0]' && p.message.includes('single server node'))).toBe(true);
    expect(problemsOf(FLEET, ['cluster.runtime=containerd']).map((p) => p.path)).toEqual(['cluster.pools[0].platform', 'cluster.pools[1].platform']);
    expect(problemsOf(FLEET, ['cluster.driver=model']).map((p) => p.path)).toEqual(['cluster.pools[0]', 'cluster.pools[1]']);
    const modelRegistries = `${HEADER}registries: [{ name: a }, { name: b }]\nimages:\n  - { ref: demo/app:v1, synth: { layers: [1MB] } }\ncluster: { driver: model }\n${ROLLOUT}`;
    expect(problemsOf(modelRegistries).map((p) => p.message)).toEqual([expect.stringContaining('the model driver does not cover several registries')]);
  });

  it('refuses a proxy hop or topology p2p with several registries: one alias names the proxied registry, one P2P agent fronts one registry', () => {
    const proxy = problemsOf(`${FLEET}proxy: {}\n`);
    expect(proxy.map((p) => p.path)).toEqual(['proxy']);
    expect(proxy[0]!.message).toContain('the proxy hop runs with one registry yet');
    const p2p = problemsOf(`${FLEET}matrix: { topology: [p2p] }\np2p: { mode: [whole-blob] }\n`);
    expect(p2p.find((p) => p.path === 'matrix.topology' && p.message.includes('topology p2p runs with one registry yet'))).toBeDefined();
  });

  it("checks a pool's ensureSecretPulledImages against the pool's own kubelet release", () => {
    const problems = problemsOf(FLEET, ['cluster.pools[1].kubernetesVersion="1.32"', 'cluster.pools[1].kubelet.ensureSecretPulledImages=true']);
    expect(problems.map((p) => p.path)).toEqual(['cluster.pools[1].kubelet.ensureSecretPulledImages']);
  });

  it('refuses a base image of another registry, and a mirror storm on a registry without a mirror', () => {
    const text = FLEET.replace('  - { ref: demo/app:v1, registry: private,', '  - { ref: demo/app:v1, registry: private, from: base/os:v1,')
      + 'load:\n  - { profile: manifest-get, target: mirror, registry: public }\n';
    expect(problemsOf(text).map((p) => p.path).sort()).toEqual(['images[1].from', 'load[0].target']);
  });
});
