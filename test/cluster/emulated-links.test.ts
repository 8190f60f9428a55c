import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EmulatedCluster } from '../../src/cluster/drivers/emulated/driver.js';
import * as proxy from '../../src/net/proxy.js';
import { systemClock } from '../../src/core/clock.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { pushWithClient, synthImage } from '../node/helpers/images.js';

const kubelet = {
  serializeImagePulls: false, maxParallelImagePulls: 3, registryPullQPS: 5, registryBurst: 10,
  maxConcurrentDownloads: 3, ensureSecretPulledImages: false,
};

let registry: StartedRegistry;
// One 2 MB layer: 4 nodes pull 8 MB in all.
const LAYER = 2_000_000;

beforeAll(async () => {
  registry = await embeddedRegistry.start({});
  await pushWithClient(registry.url, 'links/app', 'v1', synthImage([LAYER]));
  await pushWithClient(registry.url, 'links/warm', 'v1', synthImage([1000]));
});
afterAll(async () => {
  await registry?.[Symbol.asyncDispose]();
});

type Link = { bandwidth: number; latency: number; jitter: number; sharedUplink?: number };
async function pullEverywhere(workers: number, link: Link, layerStore: 'inflate-only' | 'disk' = 'inflate-only') {
  const spy = vi.spyOn(proxy, 'startShapedProxy');
  await using cluster = await EmulatedCluster.start({
    nodes: 4, runtime: 'embedded', kubelet, clock: systemClock, registryHost: registry.host,
    registry: { target: registry.host, link }, pullSecrets: new Map(), workers, layerStore,
  });
  // A first pull warms the threads up (a fresh worker compiles the pull path: ~1 s here), so the timing is the link's.
  await cluster.prepull([`${registry.host}/links/warm:v1`]);
  const warmBytes = cluster.linkBytes().registry;
  registry.resetStats();
  const t0 = performance.now();
  await cluster.prepull([`${registry.host}/links/app:v1`]);
  const seconds = (performance.now() - t0) / 1000;
  const proxies = spy.mock.calls.length;
  spy.mockRestore();
  const linkBytes = cluster.linkBytes();
  return { seconds, linkBytes: { ...linkBytes, registry: linkBytes.registry - warmBytes }, served: registry.stats().bytesServed, proxies, images: await cluster.nodeImages('node-1') };
}

// Every byte the registry served came down a node's link, plus the HTTP response headers.
function expectEveryByteCounted(r: Awaited<ReturnType<typeof pullEverywhere>>): void {
  expect(r.images).toContain(`${registry.host}/links/app:v1`);
  expect(r.served).toBeGreaterThan(4 * LAYER);
  expect(r.linkBytes.registry).toBeGreaterThan(r.served);
  expect(r.linkBytes.registry).toBeLessThan(r.served + 4 * 10_000);
  expect(r.linkBytes.mirror).toBe(0);
}

// The inflate-only store shapes its own sockets in process; the disk store (the default) reaches the
// registry through a shaped proxy per node and route, as containerd nodes do.
describe('emulated nodes on the inflate-only store shape their own connections', () => {
  for (const workers of [0, 2]) {
    it(`counts what crossed the links, with no proxy (runtime workers: ${workers})`, async () => {
      const r = await pullEverywhere(workers, { bandwidth: 1e9, latency: 1, jitter: 0 });
      expect(r.proxies).toBe(0);
      expectEveryByteCounted(r);
    }, 30_000);
  }

  // 8 MB through a 40 Mbit/s uplink takes 1.6 s whichever threads the four nodes run in; without the threads'
  // shares of it, two workers would each send at the full 40 Mbit/s and finish in half that.
  for (const workers of [0, 2]) {
    it(`shares one uplink among all nodes (runtime workers: ${workers})`, async () => {
      const r = await pullEverywhere(workers, { bandwidth: 400e6, latency: 1, jitter: 0, sharedUplink: 40e6 });
      expect(r.proxies).toBe(0);
      expect(r.seconds).toBeGreaterThan(1.5);
      expect(r.seconds).toBeLessThan(2.2);
    }, 30_000);
  }
});

describe('emulated nodes on the disk store', () => {
  it('reach the registry through a shaped proxy per node and count what crossed it', async () => {
    const r = await pullEverywhere(0, { bandwidth: 1e9, latency: 1, jitter: 0 }, 'disk');
    expect(r.proxies).toBe(4);
    expectEveryByteCounted(r);
  }, 30_000);
});
