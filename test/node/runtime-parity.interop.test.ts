import { afterAll, beforeAll, expect, it } from 'vitest';
import { realClock } from '../../src/core/clock.js';
import { EmulatedNode } from '../../src/node/kubelet.js';
import type { Runtime } from '../../src/node/runtime.js';
import { ContainerdRuntime } from '../../src/node/runtimes/containerd.js';
import { EmbeddedRuntime } from '../../src/node/runtimes/embedded.js';
import { embeddedRegistry, type RegistryStats, type StartedRegistry } from '../../src/registry/provider.js';
import { describeWithTools } from '../helpers/interop.js';
import { freePort } from '../../src/util/ports.js';
import { pushWithClient, synthImage } from './helpers/images.js';

const user = { username: 'alice', password: 'parity-pw' };
type Counts = Pick<RegistryStats, 'manifestHead' | 'manifestGet' | 'blobGet' | 'blobHead' | 'token'>;
const counts = (s: RegistryStats): Counts => ({
  manifestHead: s.manifestHead,
  manifestGet: s.manifestGet,
  blobGet: s.blobGet,
  blobHead: s.blobHead,
  token: s.token,
});

type Make = (hostsToml: Record<string, string>) => Promise<Runtime>;
const runtimes: [string, Make][] = [
  ['embedded', (hostsToml) => EmbeddedRuntime.start({ label: 'parity-embedded', hostsToml })],
  ['containerd', (hostsToml) => ContainerdRuntime.start({ label: 'parity-ctd', hostsToml })],
];

describeWithTools(['containerd', 'ctr'], 'the embedded and the containerd runtime against the same registry', () => {
  let registry: StartedRegistry;
  const image = () => `${registry.host}/team/app:v1`;
  const img = synthImage([300_000, 120_000, 40_000]);
  beforeAll(async () => {
    registry = await embeddedRegistry.start({ auth: 'token', users: [user] });
    await pushWithClient(registry.url, 'team/app', 'v1', img, user);
  });
  afterAll(async () => registry?.[Symbol.asyncDispose]());

  async function sequence(make: Make, hostsToml: Record<string, string>, events: string[]): Promise<Record<string, Counts>> {
    const runtime = await make(hostsToml);
    try {
      const node = new EmulatedNode({ name: 'n1', runtime, clock: realClock });
      const secrets = { lookup: () => [user] };
      const out: Record<string, Counts> = {};
      const step = async (name: string, policy: 'Always' | 'IfNotPresent'): Promise<void> => {
        registry.resetStats();
        await node.runPod({ uid: name, name, namespace: 'ns', pullSecrets: secrets, containers: [{ name: 'c', image: image(), imagePullPolicy: policy }] });
        out[name] = counts(registry.stats());
      };
      await step('cold-ifnotpresent', 'IfNotPresent');
      await step('warm-ifnotpresent', 'IfNotPresent');
      await step('warm-always', 'Always');
      await runtime.removeImage(image());
      await step('cold-always', 'Always');
      // The kubelet record is the same too, once pull durations are masked.
      events.push(...node.events().map((e) => `${e.reason} ${e.message.replace(/in \S+ \(\S+ including waiting\)/, 'in T (T including waiting)')}`));
      return out;
    } finally {
      await runtime[Symbol.asyncDispose]();
    }
  }

  it('the registry sees the same request counts for Always and IfNotPresent, cold and warm', async () => {
    const hostsToml = { [registry.host]: `server = "http://${registry.host}"\n` };
    const embeddedEvents: string[] = [];
    const containerdEvents: string[] = [];
    const embedded = await sequence(runtimes[0]![1], hostsToml, embeddedEvents);
    const containerd = await sequence(runtimes[1]![1], hostsToml, containerdEvents);
    expect(embedded).toEqual(containerd);
    expect(embeddedEvents).toEqual(containerdEvents);
    expect(containerdEvents).toContain(`Pulled Successfully pulled image "${image()}" in T (T including waiting). Image size: ${img.contentSize} bytes.`);
    expect(containerd['warm-ifnotpresent']).toEqual({ manifestHead: 0, manifestGet: 0, blobGet: 0, blobHead: 0, token: 0 });
    expect(containerd['cold-always']!.blobGet).toBe(4);
  });

  it('when the mirror is down, both runtimes fall back to the upstream', async () => {
    const deadPort = await freePort();
    const hostsToml = {
      [registry.host]: [
        `server = "http://${registry.host}"`,
        `[host."http://127.0.0.1:${deadPort}"]`,
        '  capabilities = ["pull", "resolve"]',
        '',
      ].join('\n'),
    };
    for (const [name, make] of runtimes) {
      const runtime = await make(hostsToml);
      try {
        registry.resetStats();
        const ref = await runtime.pullImage(image(), user);
        expect(ref, name).toMatch(/^sha256:/);
        expect((await runtime.imageStatus(image()))?.id, name).toBe(ref);
        expect(registry.stats().blobGet, name).toBe(4);
      } finally {
        await runtime[Symbol.asyncDispose]();
      }
    }
  });
});
