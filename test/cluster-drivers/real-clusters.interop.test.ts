import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { startK3s } from '../../src/cluster/drivers/k3s/driver.js';
import { DEFAULT_K3S_IMAGE } from '../../src/docker/images.js';
import { startKind } from '../../src/cluster/drivers/kind/driver.js';
import { KubeCluster } from '../../src/cluster/kube/kube-cluster.js';
import type { StartedKubeCluster } from '../../src/cluster/kube/started-cluster.js';
import { buildTimelines } from '../../src/measure/timeline.js';
import { runScenario } from '../../src/run/run.js';
import { loadScenario } from '../../src/scenario/load.js';
import { findTool } from '../../src/util/tools.js';
import { describeIf } from '../helpers/interop.js';

function dockerImages(repo: string): string[] {
  if (!findTool('docker')) return [];
  try {
    const out = execFileSync('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', repo], { timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    return out.toString().split('\n').filter((s) => s.trim() !== '');
  } catch {
    return [];
  }
}

const kindNodeImage = dockerImages('kindest/node')[0];
const k3sImage = dockerImages('rancher/k3s').includes(DEFAULT_K3S_IMAGE) ? DEFAULT_K3S_IMAGE : dockerImages('rancher/k3s')[0];
// These images come from Docker Hub, which this project's CI cannot reach: optional, never required.
const NOT_REQUIRED = false;

async function podOnEveryNode(kube: StartedKubeCluster, image: string): Promise<void> {
  const cluster = await KubeCluster.start(kube, { namespace: `pullbench-it-${Date.now().toString(36)}`, runId: 'it' });
  try {
    expect(cluster.versions().kubernetes).toMatch(/^v1\./);
    expect(cluster.versions().containerRuntime).toMatch(/^containerd:\/\//);
    for (const [i, node] of cluster.nodes.entries()) {
      cluster.createPod({ uid: `p${i}`, name: `pause-${i}`, namespace: '', rollout: 'pause', image, imagePullPolicy: 'IfNotPresent', imagePullSecrets: [], node });
    }
    await expect.poll(() => cluster.nodes.every((_, i) => cluster.condition(`p${i}`) === 'ready'), { timeout: 120_000, interval: 1000 }).toBe(true);
    await expect.poll(() => buildTimelines(cluster.events(), cluster.observations()).every((t) => t.alreadyPresent || t.pullMs !== undefined), { timeout: 30_000 }).toBe(true);
    cluster.assertEnoughData();
  } finally {
    await cluster[Symbol.asyncDispose]();
  }
}

describeIf(
  findTool('kind') !== undefined && kindNodeImage !== undefined,
  'needs the kind CLI and a kindest/node image in the local Docker (both come from the internet; not available here)',
  'the kind driver on a real kind cluster',
  () => {
    it('creates a cluster with hosts.toml routes, runs pods on every node and parses their kubelet events', async () => {
      const kube = await startKind({
        name: 'pullbench-it',
        workers: 1,
        ...(kindNodeImage ? { nodeImage: kindNodeImage } : {}),
        routes: [{ host: 'registry.pullbench.test:5000', endpoint: 'http://pullbench-registry:5000' }],
      });
      try {
        await podOnEveryNode(kube, 'registry.k8s.io/pause:3.10');
      } finally {
        await kube[Symbol.asyncDispose]();
      }
    }, 600_000);

    // Pools on kind: each pool's workers labelled, the edge's kubelet started with its own flag, and a pod whose pool
    // is not its node's refused by that node's kubelet (the nodeSelector is checked at admission, even for a bound pod).
    it("labels each pool's workers, gives a pool its own kubelet flags, and runs a pool's pods on its nodes only", async () => {
      const kube = await startKind({
        name: 'pullbench-it-pools',
        ...(kindNodeImage ? { nodeImage: kindNodeImage } : {}),
        pools: [{ name: 'core', workers: 1, kubelet: {} }, { name: 'edge', workers: 1, kubelet: { serializeImagePulls: false } }],
      });
      try {
        const cluster = await KubeCluster.start(kube, { namespace: `pullbench-itp-${Date.now().toString(36)}`, runId: 'itp' });
        try {
          expect(cluster.pools.map((p) => [p.name, p.nodes.length]).sort()).toEqual([['core', 1], ['edge', 1]]);
          expect(cluster.versions()['kubelet.serializeImagePulls']).toBe('false, true');
          const nodeOf = (pool: string): string => cluster.pools.find((p) => p.name === pool)!.nodes[0]!;
          const pod = (uid: string, node: string) => ({ uid, name: uid, namespace: '', rollout: 'pause', image: 'registry.k8s.io/pause:3.10', imagePullPolicy: 'IfNotPresent' as const, imagePullSecrets: [], node, pool: 'edge' });
          cluster.createPod(pod('on-edge', nodeOf('edge')));
          cluster.createPod(pod('on-core', nodeOf('core')));
          await expect.poll(() => cluster.condition('on-edge'), { timeout: 120_000, interval: 1000 }).toBe('ready');
          await expect.poll(() => cluster.condition('on-core'), { timeout: 120_000, interval: 1000 }).toBe('failed');
        } finally {
          await cluster[Symbol.asyncDispose]();
        }
      } finally {
        await kube[Symbol.asyncDispose]();
      }
    }, 600_000);

    // The whole path: kind network, registry and mirror containers (registry:2 from Docker Hub), the synthesised
    // image pushed and run by its /pause entrypoint, every arm's pods Ready on real nodes.
    it('runs scenarios/kind-mirror.yaml scaled down: every pod becomes Ready and the run passes', async () => {
      const loaded = await loadScenario('scenarios/kind-mirror.yaml', {
        set: ['cluster.nodes=1', 'repeat=1', 'images[0].synth.layers=[1MB]', `cluster.nodeImage=${kindNodeImage ?? 'kindest/node:v1.31.0'}`],
      });
      const { results } = await runScenario(loaded, { writeOutputs: false });
      const pods = results.arms.flatMap((a) => a.repetitions.flatMap((r) => r.pods));
      expect(pods.length).toBeGreaterThan(0);
      expect(pods.filter((p) => p.outcome !== 'ready')).toEqual([]);
      expect(results.passed).toBe(true);
    }, 1_800_000);
  },
  NOT_REQUIRED,
);

describeIf(
  k3sImage !== undefined,
  'needs a reachable Docker daemon with a rancher/k3s image present (from Docker Hub; not available here)',
  'the k3s driver on a real k3s server',
  () => {
    it('starts k3s with registries.yaml, runs a pod and parses its kubelet events', async () => {
      const kube = await startK3s({
        ...(k3sImage ? { image: k3sImage } : {}),
        routes: [{ host: 'registry.pullbench.test:5000', endpoint: 'http://127.0.0.1:5000' }],
      });
      try {
        await podOnEveryNode(kube, 'docker.io/rancher/mirrored-pause:3.6');
      } finally {
        await kube[Symbol.asyncDispose]();
      }
    }, 600_000);
  },
  NOT_REQUIRED,
);
