import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startShapedProxy, type StartedProxy } from '../../src/net/index.js';
import { ContainerdRuntime } from '../../src/node/runtimes/containerd.js';
import { RegistryClient } from '../../src/oci/client.js';
import { pushSynthImage, type SynthImage } from '../../src/oci/synth.js';
import { distributionRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { describeWithTools } from '../helpers/interop.js';

const BPS = 20e6;
const LATENCY_MS = 10;

describeWithTools(['containerd', 'ctr', 'docker-registry'], 'a real containerd pulling through a shaped link', () => {
  let registry: StartedRegistry;
  let proxy: StartedProxy;
  let runtime: ContainerdRuntime;
  let image: SynthImage;

  beforeAll(async () => {
    registry = await distributionRegistry.start({});
    image = await pushSynthImage(new RegistryClient({ baseUrl: registry.url }), 'shaped/app', 'v1', { layers: [1_500_000, 500_000] });
    proxy = await startShapedProxy({ target: registry.host, link: { bandwidthBps: BPS, latencyMs: LATENCY_MS } });
    runtime = await ContainerdRuntime.start({ label: 'shaped', hostsToml: { [proxy.host]: `server = "${proxy.url}"\n` } });
  });
  afterAll(async () => {
    await runtime?.[Symbol.asyncDispose]();
    await proxy?.close();
    await registry?.[Symbol.asyncDispose]();
  });

  it('pulls the image no faster than the link allows, all bytes through the proxy', async () => {
    const t0 = performance.now();
    const ref = await runtime.pullImage(`${proxy.host}/shaped/app:v1`);
    const seconds = (performance.now() - t0) / 1000;
    const layerBytes = (image.images[0]?.layers ?? []).reduce((n, l) => n + l.size, 0);
    expect(ref).toBe(image.images[0]?.config.digest);
    expect(proxy.stats().bytesDown).toBeGreaterThan(layerBytes);
    // Bytes over the bandwidth, plus at least the HEAD and GET manifest round trips.
    expect(seconds).toBeGreaterThanOrEqual((proxy.stats().bytesDown * 8) / BPS + (2 * 2 * LATENCY_MS) / 1000);
  });
});
