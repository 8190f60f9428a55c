import { afterAll, beforeAll, expect, it } from 'vitest';
import { EmulatedCluster } from '../../src/cluster/drivers/emulated/driver.js';
import { systemClock } from '../../src/core/clock.js';
import { SANDBOX_REPOSITORY, SANDBOX_TAG } from '../../src/node/containerd/sandbox.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { RegistryClient } from '../../src/oci/client.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { describeWithTools } from '../helpers/interop.js';

const kubelet = {
  serializeImagePulls: false, maxParallelImagePulls: 3, registryPullQPS: 5, registryBurst: 10,
  maxConcurrentDownloads: 3, ensureSecretPulledImages: false,
};

// A containerd node of a running cluster has its sandbox image before any pod's pull (node/containerd/sandbox.ts):
// emulated containerd nodes pull it as they start, from a registry of their own, so the scenario's counts miss it.
describeWithTools(['containerd', 'ctr'], 'emulated containerd nodes', () => {
  let registry: StartedRegistry;
  let blobsOfApp = 0;
  beforeAll(async () => {
    registry = await embeddedRegistry.start({});
    // The config and the layers of the app image as a synthesised image has them (with the shared /pause layer).
    await using client = new RegistryClient({ baseUrl: registry.url });
    blobsOfApp = 1 + (await pushSynthImage(client, 'sandbox/synth', 'v1', { layers: [100_000] })).images[0]!.layers.length;
  });
  afterAll(async () => {
    await registry?.[Symbol.asyncDispose]();
  });

  it('start with their sandbox image, which no scenario registry served, and through shaped links pull the same bytes', async () => {
    await using cluster = await EmulatedCluster.start({
      nodes: 2, runtime: 'containerd', kubelet, clock: systemClock, registryHost: registry.host,
      registry: { target: registry.host, link: { bandwidth: 1e9, latency: 1, jitter: 0 } }, pullSecrets: new Map(),
    });
    for (const node of cluster.nodes) {
      const images = await cluster.nodeImages(node);
      expect(images.some((ref) => ref.endsWith(`/${SANDBOX_REPOSITORY}:${SANDBOX_TAG}`))).toBe(true);
    }
    expect(registry.stats()).toMatchObject({ manifestGet: 0, manifestHead: 0, blobGet: 0 });
    registry.resetStats();
    await cluster.prepull([`${registry.host}/sandbox/synth:v1`]);
    expect(await cluster.nodeImages('node-1')).toContain(`${registry.host}/sandbox/synth:v1`);
    // Each node's bytes came through its link (the proxy hands the connection to the in-process registry).
    expect(cluster.linkBytes().registry).toBeGreaterThan(registry.stats().bytesServed);
    // Each node: every blob of the image (the sandbox image shares none of them).
    expect(registry.stats().blobGet).toBe(2 * blobsOfApp);
  }, 60_000);
});
