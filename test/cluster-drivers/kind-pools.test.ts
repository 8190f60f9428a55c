import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { kindConfigYaml } from '../../src/cluster/drivers/kind/config.js';
import { podManifest, POOL_LABEL } from '../../src/cluster/kube/manifests.js';
import { formatPlatform, hostPlatform } from '../../src/oci/platform.js';
import { runScenario } from '../../src/run/run.js';
import { parseScenario } from '../../src/scenario/load.js';
import { isPullbenchError, type PullbenchError } from '../../src/errors.js';

// The PullbenchError fn throws, its code checked (tests assert the code, and the message only for what it names).
function expectCode(fn: () => unknown, code: string): PullbenchError {
  try {
    fn();
  } catch (e) {
    if (!isPullbenchError(e)) throw e;
    expect(e.code).toBe(code);
    return e;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

type KindNode = { role: string; image?: string; labels?: Record<string, string>; kubeadmConfigPatches?: string[] };
const nodesOf = (yaml: string): KindNode[] => (parse(yaml) as { nodes: KindNode[] }).nodes;

describe('a kind cluster with node pools', () => {
  const yaml = kindConfigYaml({
    name: 'pullbench',
    workers: 99, // pools win over workers
    nodeImage: 'kindest/node:v1.31.0',
    kubelet: { serializeImagePulls: true, registryPullQPS: 5 },
    pools: [
      { name: 'core', workers: 2, kubelet: { serializeImagePulls: true, registryPullQPS: 5 } },
      { name: 'edge', workers: 1, kubelet: { serializeImagePulls: false, registryPullQPS: 1, registryBurst: 2, ensureSecretPulledImages: true } },
    ],
  });

  it("labels each pool's workers with the pool, one kind node per worker, the control plane in no pool", () => {
    const nodes = nodesOf(yaml);
    expect(nodes.map((n) => [n.role, n.labels?.[POOL_LABEL]])).toEqual([['control-plane', undefined], ['worker', 'core'], ['worker', 'core'], ['worker', 'edge']]);
    expect(nodes.every((n) => n.image === 'kindest/node:v1.31.0')).toBe(true);
  });

  it("gives a pool's workers kubelet flags for the settings it does not share with the cluster, in a JoinConfiguration patch of their own", () => {
    const nodes = nodesOf(yaml);
    // The core pool's settings are the cluster's (its KubeletConfiguration patch): nothing per node.
    expect(nodes[1]!.kubeadmConfigPatches).toBeUndefined();
    const [patch] = nodes[3]!.kubeadmConfigPatches!;
    expect(parseAllDocuments(patch!).map((d) => d.toJS())).toEqual([
      { kind: 'JoinConfiguration', nodeRegistration: { kubeletExtraArgs: { 'serialize-image-pulls': 'false', 'registry-qps': '1', 'registry-burst': '2', 'feature-gates': 'KubeletEnsureSecretPulledImages=true' } } },
    ]);
    // The cluster's own settings still reach every node through the cluster-wide patch.
    expect((parse(yaml) as { kubeadmConfigPatches: string[] }).kubeadmConfigPatches[0]).toContain('registryPullQPS: 5');
  });

  it('refuses, naming the pool and the field, a setting kind can only give every node alike', () => {
    for (const field of ['maxConcurrentDownloads', 'maxParallelImagePulls', 'imagePullProgressTimeout'] as const) {
      const err = expectCode(() => kindConfigYaml({ name: 'pb', workers: 1, pools: [{ name: 'edge', workers: 1, kubelet: { [field]: 2 } }] }), 'INVALID_ARGUMENT');
      expect(err.message).toContain(`pool edge: ${field}:`);
    }
    // The same value as the cluster's is the cluster's: nothing per pool to refuse.
    expect(() => kindConfigYaml({ name: 'pb', workers: 1, kubelet: { maxConcurrentDownloads: 2 }, pools: [{ name: 'edge', workers: 1, kubelet: { maxConcurrentDownloads: 2 } }] })).not.toThrow();
  });

  it('refuses a pool name that cannot be a label value', () => {
    expectCode(() => kindConfigYaml({ name: 'pb', workers: 1, pools: [{ name: 'Edge_1', workers: 1, kubelet: {} }] }), 'INVALID_ARGUMENT');
  });
});

const kindScenario = (pools: string): string =>
  'apiVersion: pullbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: t }\nregistry: { provider: container }\n'
  + `images:\n  - { ref: demo/app:v1, synth: { layers: [1MB] } }\ncluster:\n  driver: kind\n  pools: ${pools}\n`
  + 'rollouts:\n  - { name: app, daemonSet: { image: demo/app:v1, pool: edge } }\n';

describe('a kind scenario with pools, when it is loaded', () => {
  const host = formatPlatform(hostPlatform());
  const other = host.includes('amd64') ? 'linux/arm64' : 'linux/amd64';

  it("accepts a pool of this machine's platform and refuses another, saying why, at the pool's platform", () => {
    expect(() => parseScenario(kindScenario(`[{ name: core, nodes: 1, platform: ${host} }, { name: edge, nodes: 1 }]`), 'k.yaml')).not.toThrow();
    const err = expectCode(() => parseScenario(kindScenario(`[{ name: core, nodes: 1 }, { name: edge, nodes: 1, platform: ${other} }]`), 'k.yaml'), 'SCENARIO_INVALID');
    expect(err.message).toMatch(new RegExp(`cluster\\.pools\\[1\\]\\.platform.*pull for its platform, ${host}: a kind pool cannot be ${other}`));
  });

  it("refuses a pool's containerd setting at the field, before anything starts", () => {
    const err = expectCode(() => parseScenario(kindScenario('[{ name: core, nodes: 1 }, { name: edge, nodes: 1, kubelet: { maxConcurrentDownloads: 2 } }]'), 'k.yaml'), 'SCENARIO_INVALID');
    expect(err.message).toMatch(/cluster\.pools\[1\]\.kubelet\.maxConcurrentDownloads.*containerdConfigPatches has no per-node form/);
  });

  it('still refuses several registries on kind in runScenario, and pools on no driver but emulated and kind', async () => {
    const loaded = parseScenario(kindScenario('[{ name: core, nodes: 1 }, { name: edge, nodes: 1 }]').replace('registry: { provider: container }', 'registries: [{ name: one, provider: container }]'), 'k.yaml');
    await expect(runScenario(loaded, { writeOutputs: false })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('registries run with driver emulated only') });
  });
});

describe("a pool's pods on a real cluster", () => {
  it('select their pool by a nodeSelector on the pool label beside the node they are bound to (kubelet admits them only there)', () => {
    const pod = podManifest({ id: 'p1', name: 'agent-1-1', namespace: 'ns', runId: 'r', workload: 'agent', image: 'reg/demo/app:v1', pullSecrets: [], node: 'pb-worker3', pool: 'edge' });
    expect(pod.spec).toMatchObject({ nodeName: 'pb-worker3', nodeSelector: { [POOL_LABEL]: 'edge' } });
    const any = podManifest({ id: 'p2', name: 'agent-1-2', namespace: 'ns', runId: 'r', workload: 'agent', image: 'reg/demo/app:v1', pullSecrets: [], node: 'pb-worker' });
    expect(any.spec?.nodeSelector).toBeUndefined();
  });
});
