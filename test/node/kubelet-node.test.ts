import { describe, expect, it } from 'vitest';
import type { KubeEvent } from '../../src/core/events.js';
import { ManualClock } from '../../src/core/clock.js';
import { EmulatedNode, type NodeOptions, type PodSpec } from '../../src/node/kubelet.js';
import { kubeletProfile } from '../../src/node/profiles.js';
import { FakeRuntime } from './helpers/fake-runtime.js';

function setup(opts: Partial<NodeOptions> = {}, pullMs = 1000) {
  const clock = new ManualClock(1_700_000_000_000);
  const runtime = new FakeRuntime(clock, pullMs);
  const node = new EmulatedNode({ name: 'node-1', runtime, clock, ...opts });
  return { clock, runtime, node };
}

const pod = (uid: string, image: string, extra: Partial<PodSpec> = {}, policy?: 'Always' | 'IfNotPresent' | 'Never'): PodSpec => ({
  uid,
  name: `pod-${uid}`,
  namespace: 'default',
  containers: [{ name: 'app', image, ...(policy ? { imagePullPolicy: policy } : {}) }],
  ...extra,
});

const lines = (events: KubeEvent[], uid?: string): string[] =>
  events.filter((e) => !uid || e.involvedObject.uid === uid).map((e) => `${e.type} ${e.reason} ${e.message}`);

describe('an emulated node running a pod', () => {
  it('pulls, then creates and starts the container, with kubelet\'s exact events', async () => {
    const { clock, node } = setup();
    const done = node.runPod(pod('u1', 'registry.example/app:1.0'));
    await clock.advance(1234);
    await done;
    expect(lines(node.events())).toEqual([
      'Normal Pulling Pulling image "registry.example/app:1.0"',
      'Normal Pulled Successfully pulled image "registry.example/app:1.0" in 1s (1s including waiting). Image size: 1234 bytes.',
      'Normal Created Container created',
      'Normal Started Container started',
    ]);
    const e = node.events()[0]!;
    expect(e.involvedObject).toEqual({ kind: 'Pod', namespace: 'default', name: 'pod-u1', uid: 'u1', fieldPath: 'spec.containers{app}' });
    expect(e.source).toEqual({ component: 'kubelet', host: 'node-1' });
    expect(node.status('u1')).toMatchObject({ phase: 'Running', containers: [{ status: { state: 'running' } }] });
  });

  it('reuses a present image under IfNotPresent without pulling', async () => {
    const { clock, node, runtime } = setup();
    const first = node.runPod(pod('u1', 'registry.example/app:1.0'));
    await clock.advance(1000);
    await first;
    await node.runPod(pod('u2', 'registry.example/app:1.0'));
    expect(lines(node.events(), 'u2')[0]).toBe('Normal Pulled Container image "registry.example/app:1.0" already present on machine');
    expect(runtime.calls.filter((c) => c.op === 'pull')).toHaveLength(1);
  });

  it('pulls again under Always even when present, asking ImageStatus first as kubelet 1.31 does', async () => {
    const { clock, node, runtime } = setup({ kubelet: kubeletProfile('1.31') });
    const first = node.runPod(pod('u1', 'registry.example/app'));
    await clock.advance(1000);
    await first;
    runtime.calls.length = 0;
    const second = node.runPod(pod('u2', 'registry.example/app'));
    await clock.advance(1000);
    await second;
    expect(runtime.calls.map((c) => c.op)).toEqual(['status', 'pull', 'status']);
    expect(runtime.calls[1]!.image).toBe('registry.example/app:latest');
    expect(node.status('u2')!.containers[0]!.imagePullPolicy).toBe('Always');
  });

  it('fails a Never pod whose image is absent with ErrImageNeverPull', async () => {
    const { clock, node, runtime } = setup();
    void node.runPod(pod('u1', 'registry.example/app:1.0', {}, 'Never'));
    await clock.advance(0);
    expect(lines(node.events())).toEqual([
      'Warning ErrImageNeverPull Container image "registry.example/app:1.0" is not present with pull policy of Never',
      'Warning Failed Error: ErrImageNeverPull',
    ]);
    expect(node.status('u1')!.containers[0]!.status).toMatchObject({ state: 'waiting', reason: 'ErrImageNeverPull' });
    expect(runtime.calls.some((c) => c.op === 'pull')).toBe(false);
    node.deletePod('u1');
  });

  it('reports an invalid image name as InvalidImageName', async () => {
    const { clock, node } = setup();
    void node.runPod(pod('u1', 'Bad//Name'));
    await clock.advance(0);
    expect(lines(node.events())).toEqual([
      'Warning InspectFailed Failed to apply default image tag "Bad//Name": couldn\'t parse image name "Bad//Name": invalid reference format: repository name (/Name) must be lowercase',
      'Warning Failed Error: InvalidImageName',
    ]);
    expect(node.status('u1')!.containers[0]!.status).toMatchObject({ reason: 'InvalidImageName' });
    node.deletePod('u1');
  });
});

describe('a pod spec that is wrong', () => {
  it('is rejected with every problem listed, and nothing is pulled', async () => {
    const { node, runtime } = setup();
    const bad = {
      uid: '',
      name: 'x',
      namespace: '',
      containers: [
        { name: 'a', image: 'nginx', imagePullPolicy: 'Sometimes' as never },
        { name: 'a', image: '' },
      ],
    };
    const err = await node.runPod(bad).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((err as { details: { problems: string[] } }).details.problems).toHaveLength(5);
    expect(runtime.calls).toHaveLength(0);
  });

  it('rejects a second pod with the same uid', async () => {
    const { node, clock } = setup();
    void node.runPod(pod('u1', 'registry.example/app:1'));
    await expect(node.runPod(pod('u1', 'registry.example/app:1'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await clock.advance(1000);
  });
});

describe('when a pull keeps failing', () => {
  it('retries on the pod sync and backs off 10 s, doubling, with BackOff and ImagePullBackOff in between', async () => {
    // No jitter drawn: every pod sync retry comes after the pod worker's 10 s (see the jitter cases below).
    const { clock, node, runtime } = setup({ random: () => 0 }, 0);
    const image = 'registry.example/missing:1';
    runtime.failing.set(image, 'rpc error: code = NotFound desc = not found');
    const start = clock.now();
    void node.runPod(pod('u1', image));
    await clock.advance(0);
    expect(node.status('u1')!.containers[0]!.status).toMatchObject({ reason: 'ErrImagePull', message: 'rpc error: code = NotFound desc = not found' });
    for (let i = 0; i < 9; i++) await clock.advance(10_000);
    const pulls = node
      .events()
      .filter((e) => e.reason === 'Pulling')
      .map((e) => (e.timestamp - start) / 1000);
    // Failures at 0, 10 (backoff 10 s elapsed), 30 (20 s), 70 (40 s): each retry waits for the next pod sync after the backoff.
    expect(pulls).toEqual([0, 10, 30, 70]);
    expect(node.images.backoffFor('u1', image)).toBe(80_000);
    expect(lines(node.events()).slice(0, 7)).toEqual([
      `Normal Pulling Pulling image "${image}"`,
      `Warning Failed Failed to pull image "${image}": rpc error: code = NotFound desc = not found`,
      'Warning Failed Error: ErrImagePull',
      `Normal Pulling Pulling image "${image}"`,
      `Warning Failed Failed to pull image "${image}": rpc error: code = NotFound desc = not found`,
      'Warning Failed Error: ErrImagePull',
      `Normal BackOff Back-off pulling image "${image}"`,
    ]);
    expect(node.status('u1')!.containers[0]!.status).toMatchObject({
      reason: 'ImagePullBackOff',
      message: `Back-off pulling image "${image}": ErrImagePull: rpc error: code = NotFound desc = not found`,
    });
    node.deletePod('u1');
  });

  it('keeps backoff per pod: another pod pulling the same image is not held back', async () => {
    const { clock, node, runtime } = setup({}, 0);
    const image = 'registry.example/missing:1';
    runtime.failing.set(image, 'boom');
    void node.runPod(pod('u1', image));
    await clock.advance(0);
    void node.runPod(pod('u2', image));
    await clock.advance(0);
    expect(lines(node.events(), 'u2')[0]).toBe(`Normal Pulling Pulling image "${image}"`);
    node.deletePod('u1');
    node.deletePod('u2');
  });
});

describe('pull queues', () => {
  it('serializes pulls by default, and reports the wait in "including waiting"', async () => {
    const { clock, node, runtime } = setup();
    const pods = ['a', 'b', 'c'].map((u) => node.runPod(pod(u, `registry.example/${u}:1`)));
    await clock.advance(3000);
    await Promise.all(pods);
    expect(runtime.maxActive).toBe(1);
    const pulled = node.events().filter((e) => e.reason === 'Pulled').map((e) => e.message);
    expect(pulled[2]).toBe('Successfully pulled image "registry.example/c:1" in 1s (3s including waiting). Image size: 1234 bytes.');
  });

  it('runs up to maxParallelImagePulls at once when serializeImagePulls is false', async () => {
    const { clock, node, runtime } = setup({ serializeImagePulls: false, maxParallelImagePulls: 2 });
    const pods = ['a', 'b', 'c', 'd', 'e'].map((u) => node.runPod(pod(u, `registry.example/${u}:1`)));
    await clock.advance(3000);
    await Promise.all(pods);
    expect(runtime.maxActive).toBe(2);
  });

  it('does not deduplicate concurrent pulls of one image by different pods', async () => {
    const { clock, node, runtime } = setup({ serializeImagePulls: false });
    const pods = ['a', 'b', 'c'].map((u) => node.runPod(pod(u, 'registry.example/same:1')));
    await clock.advance(1000);
    await Promise.all(pods);
    expect(runtime.calls.filter((c) => c.op === 'pull')).toHaveLength(3);
    expect(runtime.maxActive).toBe(3);
  });

  it('rejects maxParallelImagePulls > 1 with serializeImagePulls set to true', () => {
    const clock = new ManualClock();
    expect(() => new EmulatedNode({ name: 'n', clock, runtime: new FakeRuntime(clock), serializeImagePulls: true, maxParallelImagePulls: 3 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('registry QPS limit', () => {
  it('fails pulls beyond the burst with "pull QPS exceeded"', async () => {
    const { clock, node } = setup({ serializeImagePulls: false }, 0);
    const pods = Array.from({ length: 12 }, (_, i) => node.runPod(pod(`p${i}`, `registry.example/img${i}:1`)));
    await clock.advance(0);
    const failed = node.events().filter((e) => e.reason === 'Failed' && e.message.startsWith('Failed to pull'));
    expect(failed.map((e) => e.message)).toEqual([
      'Failed to pull image "registry.example/img10:1": pull QPS exceeded',
      'Failed to pull image "registry.example/img11:1": pull QPS exceeded',
    ]);
    await clock.advance(15_000);
    await Promise.all(pods);
  });
});

describe('KEP-2535: an image pulled with credentials, then used by a pod without them', () => {
  const image = 'registry.example/private/app:1';
  const secret = { lookup: () => [{ username: 'alice', password: 's3cret' }] };

  async function scenario(ensureSecretPulledImages: boolean) {
    const { clock, node, runtime } = setup({ ensureSecretPulledImages }, 0);
    runtime.privateImages.set(image, { username: 'alice', password: 's3cret' });
    const owner = node.runPod(pod('owner', image, { pullSecrets: secret }));
    await clock.advance(0);
    await owner;
    void node.runPod(pod('intruder', image));
    await clock.advance(0);
    return { node, status: node.status('intruder')! };
  }

  it('with the option off, the pod without credentials starts the private image', async () => {
    const { status, node } = await scenario(false);
    expect(status.phase).toBe('Running');
    expect(lines(node.events(), 'intruder')[0]).toBe(`Normal Pulled Container image "${image}" already present on machine`);
  });

  it('with the option on, it must pull with its own (no) credentials and fails', async () => {
    const { status, node } = await scenario(true);
    expect(status.phase).toBe('Pending');
    expect(status.containers[0]!.status).toMatchObject({ reason: 'ErrImagePull' });
    expect(lines(node.events(), 'intruder').slice(0, 2)).toEqual([
      `Normal Pulling Pulling image "${image}"`,
      `Warning Failed Failed to pull image "${image}": failed to authorize: 401 Unauthorized`,
    ]);
    node.deletePod('intruder');
  });

  it('with the option on, a pod with the same credentials reuses the image', async () => {
    const { clock, node } = setup({ ensureSecretPulledImages: true }, 0);
    const owner = node.runPod(pod('owner', image, { pullSecrets: secret }));
    await clock.advance(0);
    await owner;
    const second = node.runPod(pod('friend', image, { pullSecrets: secret }));
    await clock.advance(0);
    await second;
    expect(lines(node.events(), 'friend')[0]).toBe(
      `Normal Pulled Container image "${image}" already present on machine and can be accessed by the pod`,
    );
  });

  it('never puts the password in events or status', async () => {
    const { node } = await scenario(true);
    expect(JSON.stringify([node.events(), node.status('intruder')])).not.toContain('s3cret');
    node.deletePod('intruder');
  });
});
