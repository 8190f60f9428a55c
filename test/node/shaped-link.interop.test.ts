import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRuntime, type RuntimeKind } from '../../src/node/index.js';
import { startShapedProxy, type StartedProxy } from '../../src/net/index.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { describeWithTools } from '../helpers/interop.js';
import { pushWithClient, synthImage, type SynthImage } from './helpers/images.js';

const BANDWIDTH = 40_000_000; // 40 Mbit/s
const LATENCY = 20;

describeWithTools(['containerd', 'ctr'], 'both runtimes pulling over a shaped link (hosts.toml server -> shaping proxy)', () => {
  let registry: StartedRegistry;
  let img: SynthImage;
  beforeAll(async () => {
    registry = await embeddedRegistry.start({});
    img = synthImage([1_500_000, 500_000]);
    await pushWithClient(registry.url, 'shaped/app', 'v1', img);
  });
  afterAll(async () => registry?.[Symbol.asyncDispose]());

  it.each(['embedded', 'containerd'] as RuntimeKind[])('%s pulls through the link and cannot beat its bandwidth', async (kind) => {
    const proxy: StartedProxy = await startShapedProxy({ target: registry.host, link: { bandwidthBps: BANDWIDTH, latencyMs: LATENCY } });
    const runtime = await startRuntime(kind, { label: `shaped-${kind}`, hostsToml: { [registry.host]: `server = "http://${proxy.host}"\n` } });
    try {
      const t0 = performance.now();
      await runtime.pullImage(`${registry.host}/shaped/app:v1`);
      const ms = performance.now() - t0;
      const idealMs = (img.contentSize * 8 * 1000) / BANDWIDTH + 4 * 2 * LATENCY;
      expect(proxy.stats().bytesDown).toBeGreaterThanOrEqual(img.contentSize);
      expect(ms).toBeGreaterThanOrEqual(idealMs * 0.95);
    } finally {
      await runtime[Symbol.asyncDispose]();
      await proxy.close();
    }
  });
});
