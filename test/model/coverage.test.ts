import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { FlowNetwork } from '../../src/model/flow-network.js';
import type { Catalog } from '../../src/model/catalog.js';
import { ModelRuntime, type ModelWorld } from '../../src/model/runtime.js';
import { ModelRegistry } from '../../src/model/servers.js';
import { runInVirtualTime } from '../../src/model/virtual-time.js';
import { containerdProfile, type ContainerdVersion } from '../../src/node/profiles.js';
import { parseScenario } from '../../src/scenario/load.js';

const env = { PULLBENCH_REGISTRY_PASSWORD: 's3cret-for-tests' };

// A modelled scenario with `extra` YAML appended at top level and `cluster` lines inside the cluster section.
function scenario(extra = '', cluster = ''): string {
  return `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: coverage }
images:
  - ref: demo/app:v1
    synth: { layers: [1MB] }
cluster:
  driver: model
  nodes: 2
${cluster}
rollouts:
  - name: app
    daemonSet: { image: demo/app:v1 }
${extra}
`;
}

const load = (extra = '', cluster = '') => parseScenario(scenario(extra, cluster), 'coverage.yaml', { env });

async function refusedAt(extra: string, cluster: string, path: string, words: RegExp): Promise<void> {
  let err: unknown;
  try {
    load(extra, cluster);
  } catch (e) {
    err = e;
  }
  expect(err).toMatchObject({ code: 'SCENARIO_INVALID' });
  const problems = (err as { details: { problems: { path: string; message: string }[] } }).details.problems;
  expect(problems).toEqual(expect.arrayContaining([expect.objectContaining({ path, message: expect.stringMatching(words) })]));
}

describe('what the model driver refuses before the run, by field', () => {
  it.each([
    ['registry auth', 'pullSecrets: []\nregistry: { auth: { type: token, users: [{ username: u, password: "${env:PULLBENCH_REGISTRY_PASSWORD}" }] } }', '', 'registry.auth', /registry auth/],
    ['a registry provider other than embedded', 'registry: { provider: distribution }', '', 'registry.provider', /registry provider distribution/],
    ['a mirror provider other than embedded', 'mirror: { provider: container }', '', 'mirror.provider', /mirror provider container/],
    ['link jitter', 'links: { registry: { bandwidth: 1Gbit, jitter: 2ms } }', '', 'links.registry.jitter', /jitter/],
    ['load storms', 'load: [{ profile: manifest-head }]', '', 'load', /load storms/],
    ['runtime containerd', '', '  runtime: containerd', 'cluster.runtime', /runtime/],
    ['several registries', 'registries: [{ name: hub }, { name: quay }]', '', 'registries', /several registries/],
    ['node pools', '', '  pools: [{ name: arm, nodes: 2 }]', 'cluster.pools[0]', /node pools/],
    ['faults on a timeline', 'faults: [{ target: registry, at: 1s, for: 1s, kind: 503 }]', '', 'faults', /faults on a timeline/],
    ['a proxy', 'proxy: {}', '', 'proxy', /proxy/],
    ['faults on P2P agents', 'matrix: { topology: [p2p] }\np2p: { faults: { kill: 10% } }\nlinks: { peer: { upload: 1Gbit } }', '', 'p2p.faults', /faults on the P2P agents/],
    ['p2p without peer links', 'matrix: { topology: [p2p] }\np2p: { mode: [whole-blob] }', '', 'matrix.topology', /links.peer/],
    ['layerStore inflate-only (the node side has no store to model)', '', '  layerStore: inflate-only', 'cluster.layerStore', /layerStore/],
  ])('refuses %s', async (_what, extra, cluster, path, words) => {
    await refusedAt(extra, cluster, path, words);
  });

  it('refuses signing', async () => {
    await refusedAt('signing: { images: [all] }', '', 'signing', /signing/);
  });

  it('accepts what it models: policies, topologies, cache states, the mirror, rate limits, faults, version profiles', () => {
    const loaded = load(
      [
        'mirror: { provider: embedded, faults: { errorRate: 1% } }',
        'registry: { rateLimit: { manifestGets: 100 }, faults: { errorRate: 1%, latency: 1ms } }',
        'links: { registry: { bandwidth: 1Gbit, latency: 5ms, sharedUplink: 10Gbit }, mirror: { bandwidth: 1Gbit }, upstream: { bandwidth: 1Gbit }, peer: { upload: 1Gbit, latency: 1ms } }',
        'matrix: { pullPolicy: [Always, IfNotPresent, Never], topology: [direct, mirror, pre-pulled, p2p], cache: [cold, warm] }',
        'p2p: { mode: [whole-blob, pieces], advertiseDelay: 1s, concurrentPieceCount: 4 }',
      ].join('\n'),
      '  kubernetesVersion: "1.31"\n  containerdVersion: "1.7"',
    );
    expect(loaded.scenario.cluster.containerdVersion).toBe('1.7');
  });
});

// Two images pulled at once on one node, one layer each, max_concurrent_downloads 1, 50 ms links: every blob costs round trips.
async function twoPullsAtOnce(version: ContainerdVersion): Promise<number> {
  const clock = new ManualClock(0);
  return runInVirtualTime(clock, async () => {
    const network = new FlowNetwork(clock, [1e9], [{ name: 'registry', endpointBytesPerMs: 1e6, shared: [0] }]);
    const registry = new ModelRegistry(clock, { calibration: { serviceMs: 1, concurrency: 8, egressBytesPerMs: 1e9 }, random: () => 0.5 });
    const d = (n: string, size: number) => ({ mediaType: 'application/octet-stream', digest: `sha256:${n.repeat(64)}`, size });
    const catalog: Catalog = new Map([
      ['demo/a:v1', { repo: 'demo/a', root: d('a', 500), config: d('b', 300), layers: [d('c', 1e6), d('d', 1e6)] }],
      ['demo/b:v1', { repo: 'demo/b', root: d('e', 500), config: d('f', 300), layers: [d('0', 1e6), d('1', 1e6)] }],
    ]);
    const world: ModelWorld = {
      clock, network, catalog,
      registry: { server: registry, route: 0, latencyMs: 50, shaped: true },
      maxConcurrentDownloads: 1,
      containerd: containerdProfile(version),
    };
    const runtime = new ModelRuntime(world, 1);
    await Promise.all([runtime.pullImage('registry.model:5000/demo/a:v1'), runtime.pullImage('registry.model:5000/demo/b:v1')]);
    expect(await runtime.listImages()).toHaveLength(2);
    return clock.now();
  });
}

describe('containerd version profiles in the model', () => {
  it('bounds max_concurrent_downloads per pull in 1.7 and 2.0 and node-wide in 2.1, as the embedded runtime does', async () => {
    const [v17, v20, v21] = [await twoPullsAtOnce('1.7'), await twoPullsAtOnce('2.0'), await twoPullsAtOnce('2.1')];
    expect(v17).toBe(v20);
    // Node-wide, the two pulls' six fetches take turns: each waits out the other's round trips.
    expect(v21).toBeGreaterThan(v17 * 1.5);
  });
});
