import { describe, expect, it } from 'vitest';
import type { KubeEvent } from '../../src/core/events.js';
import { ManualClock } from '../../src/core/clock.js';
import { EmulatedNode, type NodeOptions, type PodSpec } from '../../src/node/kubelet.js';
import { effectiveImagePullSettings } from '../../src/node/kubelet/config.js';
import { Keyring } from '../../src/oci/credentials.js';
import { FakeRuntime } from './helpers/fake-runtime.js';

function setup(opts: Partial<NodeOptions> = {}, pullMs = 0) {
  const clock = new ManualClock(1_700_000_000_000);
  const runtime = new FakeRuntime(clock, pullMs);
  const node = new EmulatedNode({ name: 'node-1', runtime, clock, ...opts });
  return { clock, runtime, node };
}

const pod = (uid: string, image: string, extra: Partial<PodSpec> = {}): PodSpec => ({
  uid,
  name: `pod-${uid}`,
  namespace: 'default',
  containers: [{ name: 'app', image }],
  ...extra,
});

const pullTimes = (events: KubeEvent[], start: number): number[] => events.filter((e) => e.reason === 'Pulling').map((e) => (e.timestamp - start) / 1000);

describe('KubeletConfiguration v1beta1 defaulting of the image-pull fields', () => {
  it('leaves serializeImagePulls on when nothing is set: 5 QPS, burst 10', () => {
    expect(effectiveImagePullSettings({})).toEqual({ serializeImagePulls: true, registryPullQPS: 5, registryBurst: 10 });
  });

  it('turns serializeImagePulls off when it is unset and maxParallelImagePulls is 2 or more', () => {
    expect(effectiveImagePullSettings({ maxParallelImagePulls: 2 })).toMatchObject({ serializeImagePulls: false, maxParallelImagePulls: 2 });
    expect(effectiveImagePullSettings({ maxParallelImagePulls: 1 })).toMatchObject({ serializeImagePulls: true });
  });

  it('reads registryBurst 0 as 10, and keeps registryPullQPS 0 (no limit)', () => {
    expect(effectiveImagePullSettings({ registryBurst: 0, registryPullQPS: 0 })).toMatchObject({ registryBurst: 10, registryPullQPS: 0 });
  });

  it('refuses what kubelet refuses at start-up, every problem at once', () => {
    const err = (() => {
      try {
        effectiveImagePullSettings({ serializeImagePulls: true, maxParallelImagePulls: 3, registryBurst: -1 });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((err as { details: { problems: string[] } }).details.problems).toHaveLength(2);
  });

  it('a node given only maxParallelImagePulls: 3 pulls three at once', async () => {
    const { clock, node, runtime } = setup({ maxParallelImagePulls: 3 }, 1000);
    expect(node.images.settings.serializeImagePulls).toBe(false);
    const pods = ['a', 'b', 'c', 'd'].map((u) => node.runPod(pod(u, `registry.example/${u}:1`)));
    await clock.advance(2000);
    await Promise.all(pods);
    expect(runtime.maxActive).toBe(3);
  });

  it('a node given registryBurst: 0 admits a burst of 10 pulls, not none', async () => {
    const { clock, node } = setup({ serializeImagePulls: false, registryBurst: 0 });
    const pods = Array.from({ length: 11 }, (_, i) => node.runPod(pod(`p${i}`, `registry.example/img${i}:1`)));
    await clock.advance(0);
    const refused = node.events().filter((e) => e.reason === 'Failed' && e.message.endsWith('pull QPS exceeded'));
    expect(refused.map((e) => e.involvedObject.uid)).toEqual(['p10']);
    await clock.advance(15_000);
    await Promise.all(pods);
  });
});

describe('the registry QPS limiter', () => {
  it('takes one token per pull, however many credentials the pull tries', async () => {
    const image = 'registry.example/private/app:1';
    const secrets = { lookup: () => [{ username: 'wrong', password: 'nope1' }, { username: 'alice', password: 's3cret' }] };
    // Burst 2, refilled once in 1000 s: a token per credential tried would leave none for the second pod.
    const { clock, node, runtime } = setup({ registryPullQPS: 0.001, registryBurst: 2 });
    runtime.privateImages.set(image, { username: 'alice', password: 's3cret' });
    runtime.privateImages.set('registry.example/other:1', { username: 'alice', password: 's3cret' });
    const first = node.runPod(pod('a', image, { pullSecrets: secrets }));
    await clock.advance(0);
    await first;
    expect(runtime.calls.filter((c) => c.op === 'pull')).toHaveLength(2);
    const second = node.runPod(pod('b', 'registry.example/other:1', { pullSecrets: secrets }));
    await clock.advance(0);
    await second;
    expect(node.events().filter((e) => e.message.includes('pull QPS exceeded'))).toEqual([]);
    const third = node.runPod(pod('c', 'registry.example/third:1'));
    await clock.advance(0);
    expect(node.status('c')!.containers[0]!.status).toMatchObject({ reason: 'ErrImagePull', message: 'pull QPS exceeded' });
    node.deletePod('c');
    void third;
  });
});

describe('a failed pod sync', () => {
  it('is retried after the pod worker backOffPeriod jittered by half: 10-15 s', async () => {
    const image = 'registry.example/missing:1';
    for (const [draw, retryAt] of [
      [0, 10],
      [0.5, 12.5],
      [0.998, 14.99],
    ] as const) {
      const { clock, node, runtime } = setup({ random: () => draw });
      runtime.failing.set(image, 'not found');
      const start = clock.now();
      void node.runPod(pod('u1', image));
      await clock.advance(0);
      await clock.advance(15_000);
      expect(pullTimes(node.events(), start)).toEqual([0, retryAt]);
      node.deletePod('u1');
    }
  });

  it('draws its jitter from a seed of the node name by default, so a run repeats', async () => {
    const retries = async (name: string): Promise<number[]> => {
      const { clock, node, runtime } = setup({ name });
      runtime.failing.set('registry.example/missing:1', 'not found');
      const start = clock.now();
      void node.runPod(pod('u1', 'registry.example/missing:1'));
      await clock.advance(0);
      for (let i = 0; i < 8; i++) await clock.advance(15_000);
      node.deletePod('u1');
      // The gaps between pod syncs, from the BackOff and Pulling events.
      const syncs = node.events().filter((e) => e.reason === 'Pulling' || e.reason === 'BackOff').map((e) => (e.timestamp - start) / 1000);
      return syncs.slice(1).map((t, i) => t - syncs[i]!);
    };
    const a = await retries('node-a');
    expect(a.length).toBeGreaterThan(5);
    for (const gap of a) {
      expect(gap).toBeGreaterThanOrEqual(10);
      expect(gap).toBeLessThan(15);
    }
    expect(new Set(a).size).toBeGreaterThan(1);
    expect(await retries('node-a')).toEqual(a);
    expect(await retries('node-b')).not.toEqual(a);
  });
});

describe('an invalid image name on a pod with pull secrets', () => {
  it('is InvalidImageName with the parser\'s reason, not a rejected pod sync', async () => {
    const { clock, node, runtime } = setup();
    const secrets = Keyring.fromDockerConfigs({ 'registry.example': { username: 'u', password: 'p' } });
    const image = 'registry.example/Team/App:1';
    const running = node.runPod(pod('u1', image, { pullSecrets: secrets }));
    let rejected: unknown;
    running.catch((err: unknown) => (rejected = err));
    await clock.advance(0);
    await clock.advance(15_000);
    expect(rejected).toBeUndefined();
    const status = node.status('u1')!.containers[0]!.status;
    expect(status).toMatchObject({ reason: 'InvalidImageName' });
    expect((status as { message: string }).message).toBe(
      `Failed to apply default image tag "${image}": couldn't parse image name "${image}": invalid reference format: repository name (Team/App) must be lowercase`,
    );
    expect(runtime.calls).toEqual([]);
    node.deletePod('u1');
  });
});
