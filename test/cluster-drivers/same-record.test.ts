import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/cluster/cluster.js';
import { connectKubeconfig } from '../../src/cluster/drivers/kubeconfig/driver.js';
import { EmulatedCluster } from '../../src/cluster/drivers/emulated/driver.js';
import { KubeCluster } from '../../src/cluster/kube/kube-cluster.js';
import { buildTimelines, type PodTimeline } from '../../src/measure/timeline.js';
import { realClock } from '../../src/core/clock.js';
import { RegistryClient } from '../../src/oci/client.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { embeddedRegistry } from '../../src/registry/provider.js';
import { startFakeApiServer } from './fake-apiserver.js';

const dir = mkdtempSync(join(tmpdir(), 'pb-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runOnePod(cluster: Cluster, image: string): Promise<{ timeline: PodTimeline; eventKeys: string[][]; observationKeys: string[] }> {
  const node = cluster.nodes[0] ?? '';
  const done = new Promise<void>((resolve) => {
    const off = cluster.onChange(() => {
      if (cluster.condition('pod-1') !== 'pending') {
        off();
        resolve();
      }
    });
  });
  cluster.createPod({ uid: 'pod-1', name: 'app-1', namespace: 'pullbench-contract', rollout: 'app', image, imagePullPolicy: 'Always', imagePullSecrets: [], node });
  await done;
  await expect.poll(() => cluster.events().some((e) => e.reason === 'Started')).toBe(true);
  const [timeline] = buildTimelines(cluster.events(), cluster.observations());
  if (!timeline) throw new Error('no timeline');
  return {
    timeline,
    eventKeys: cluster.events().map((e) => Object.keys(e).sort()),
    observationKeys: Object.keys(cluster.observations()[0] ?? {}).sort(),
  };
}

describe('the emulated cluster and the kubeconfig driver produce the same record for the one parser', () => {
  it('gives the same timeline fields from the same kubelet texts', async () => {
    await using registry = await embeddedRegistry.start({});
    await pushSynthImage(new RegistryClient({ baseUrl: registry.url }), 'contract/app', 'v1', { layers: [64 * 1024], seed: 'contract' });
    const image = `${registry.host}/contract/app:v1`;

    const emulated = await EmulatedCluster.start({
      nodes: 1, runtime: 'embedded', clock: realClock, registryHost: registry.host, registry: { target: registry.host }, pullSecrets: new Map(),
      kubelet: { serializeImagePulls: true, registryPullQPS: 5, registryBurst: 10, maxConcurrentDownloads: 3, ensureSecretPulledImages: false },
    });
    let fromEmulated: Awaited<ReturnType<typeof runOnePod>>;
    try {
      fromEmulated = await runOnePod(emulated, image);
    } finally {
      await emulated[Symbol.asyncDispose]();
    }
    // The fake API server's kubelet records exactly what the emulated kubelet wrote (minus the scheduler's event).
    const texts = emulated.events().filter((e) => e.source.component === 'kubelet').map((e) => ({ type: e.type, reason: e.reason, message: e.message }));
    expect(texts.map((t) => t.reason)).toEqual(expect.arrayContaining(['Pulling', 'Pulled', 'Started']));

    await using api = await startFakeApiServer({
      nodes: [{ metadata: { name: 'w1', labels: {} }, status: { nodeInfo: { containerRuntimeVersion: 'containerd://1.7.18', kubeletVersion: 'v1.31.0' } } }],
      gitVersion: 'v1.31.0',
      kubelet: () => texts,
    });
    const path = join(dir, 'config');
    writeFileSync(path, api.kubeconfig);
    const real = await KubeCluster.start(connectKubeconfig({ kubeconfigPath: path }), { namespace: 'pullbench-contract', runId: 'c1' });
    let fromReal: Awaited<ReturnType<typeof runOnePod>>;
    try {
      fromReal = await runOnePod(real, image);
    } finally {
      await real[Symbol.asyncDispose]();
    }

    const measured = (t: PodTimeline) => ({
      pullMs: t.pullMs, pullWithWaitingMs: t.pullWithWaitingMs, imageSizeBytes: t.imageSizeBytes, pullSource: t.pullSource,
      alreadyPresent: t.alreadyPresent, outcome: t.outcome, pullErrors: t.pullErrors, rollout: t.rollout, uid: t.uid, image: t.image,
    });
    expect(fromReal.timeline.pullMs).toBeGreaterThan(0);
    expect(measured(fromReal.timeline)).toEqual(measured(fromEmulated.timeline));
    for (const k of ['pullStartedAt', 'pulledAt', 'startedAt', 'readyAt'] as const) {
      expect(typeof fromReal.timeline[k], k).toBe(typeof fromEmulated.timeline[k]);
    }
    // Same KubeEvent and PodObservation shapes (a real kubelet's events also carry fieldPath and host; count comes with every API event).
    const required = ['involvedObject', 'message', 'reason', 'source', 'timestamp', 'type'];
    for (const keys of [...fromReal.eventKeys, ...fromEmulated.eventKeys]) expect(keys).toEqual(expect.arrayContaining(required));
    expect(fromReal.observationKeys).toEqual(expect.arrayContaining(fromEmulated.observationKeys.filter((k) => k !== 'deletedAt')));
  });
});
