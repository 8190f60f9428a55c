import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectKubeconfig } from '../../src/cluster/drivers/kubeconfig/driver.js';
import { KubeCluster } from '../../src/cluster/kube/kube-cluster.js';
import { buildTimelines } from '../../src/measure/timeline.js';
import { startFakeApiServer } from './fake-apiserver.js';

const dir = mkdtempSync(join(tmpdir(), 'pb-kubeconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const node = (name: string, labels: Record<string, string> = {}) => ({
  metadata: { name, labels },
  status: { nodeInfo: { containerRuntimeVersion: 'containerd://1.7.18', kubeletVersion: 'v1.31.0' }, images: [{ names: ['registry.pullbench.test:5000/bench/app:v1'], sizeBytes: 10 }] },
});

describe('the kubeconfig driver through the Cluster port (fake API server seam)', () => {
  it('creates its namespace and secrets, runs pods on the chosen node, and feeds the parser kubelet events by pod id', async () => {
    await using api = await startFakeApiServer({
      nodes: [node('cp', { 'node-role.kubernetes.io/control-plane': '' }), node('w1'), node('w2')],
      gitVersion: 'v1.31.0',
      pulledMessage: (image) => `Successfully pulled image "${image}" in 1.5s (2.25s including waiting). Image size: 10485760 bytes.`,
      // Each kubelet's effective configuration; w2 was given parallel pulls, cp answers nothing.
      configz: (name) =>
        name === 'cp' ? undefined : { serializeImagePulls: name !== 'w2', ...(name === 'w2' ? { maxParallelImagePulls: 4 } : {}), registryPullQPS: 5, registryBurst: 10, cgroupDriver: 'systemd' },
    });
    const path = join(dir, 'config');
    writeFileSync(path, api.kubeconfig);
    const cluster = await KubeCluster.start(connectKubeconfig({ kubeconfigPath: path, context: 'fake' }), {
      namespace: 'pullbench-r1',
      runId: 'r1',
      pullSecrets: new Map([['regcred', { registry: 'registry.pullbench.test:5000', username: 'u', password: 'p' }]]),
    });
    try {
      expect(cluster.nodes).toEqual(['w1', 'w2']);
      expect(cluster.versions()).toEqual({
        kubernetes: 'v1.31.0', containerRuntime: 'containerd://1.7.18', kubelet: 'v1.31.0', kubernetesVersion: '1.31', containerdVersion: '1.7',
        'kubelet.serializeImagePulls': 'false, true', 'kubelet.maxParallelImagePulls': '4', 'kubelet.registryPullQPS': '5', 'kubelet.registryBurst': '10',
      });
      expect(api.namespaces.get('pullbench-r1')?.metadata).toMatchObject({ labels: { 'pullbench.io/run': 'r1' } });
      expect(await cluster.nodeImages('w1')).toEqual(['registry.pullbench.test:5000/bench/app:v1']);

      const ready = new Promise<void>((resolve) => {
        const off = cluster.onChange(() => {
          if (cluster.condition('pod-a') === 'ready') {
            off();
            resolve();
          }
        });
      });
      cluster.createPod({
        uid: 'pod-a', name: 'web-a', namespace: 'pullbench-r1', rollout: 'web', image: 'registry.pullbench.test:5000/bench/app:v1',
        imagePullPolicy: 'Always', imagePullSecrets: ['regcred'], node: 'w2',
      });
      await ready;
      await expect.poll(() => cluster.events().map((e) => e.reason)).toEqual(['Pulling', 'Pulled', 'Started']);
      expect(cluster.events().every((e) => e.involvedObject.uid === 'pod-a' && e.source.host === 'w2')).toBe(true);
      const [t] = buildTimelines(cluster.events(), cluster.observations());
      expect(t).toMatchObject({ uid: 'pod-a', node: 'w2', pullMs: 1500, pullWithWaitingMs: 2250, imageSizeBytes: 10485760, pullSource: 'message', outcome: 'ready' });
      expect(() => cluster.assertEnoughData()).not.toThrow();
    } finally {
      await cluster[Symbol.asyncDispose]();
    }
    expect(api.namespaces.has('pullbench-r1')).toBe(false);
    expect(api.requests).toContain('POST /api/v1/namespaces/pullbench-r1/secrets');
  });

  it('refuses a context that is not in the kubeconfig', () => {
    const path = join(dir, 'other');
    writeFileSync(path, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    expect(() => connectKubeconfig({ kubeconfigPath: path, context: 'nope' })).toThrow(/not in the kubeconfig/);
  });
});

describe('making the cache cold on a real cluster (fake API server seam)', () => {
  it('runs the crictl-rmi DaemonSet, removes it, and waits until Node.status.images no longer lists the images', async () => {
    const img = 'registry.pullbench.test:5000/bench/app:v1';
    await using api = await startFakeApiServer({ nodes: [node('w1'), node('w2')], gitVersion: 'v1.31.0' });
    const path = join(dir, 'cold');
    writeFileSync(path, api.kubeconfig);
    const cluster = await KubeCluster.start(connectKubeconfig({ kubeconfigPath: path }), { namespace: 'pullbench-cold', runId: 'c' });
    try {
      expect(await cluster.nodeImages('w1')).toEqual([img]);
      await cluster.makeCold([img], 20_000);
      expect(await cluster.nodeImages('w1')).toEqual([]);
      expect(await cluster.nodeImages('w2')).toEqual([]);
      expect(api.deletedDaemonSets).toEqual(['pullbench-cold-cache']);
    } finally {
      await cluster[Symbol.asyncDispose]();
    }
  });
});
