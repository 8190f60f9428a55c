import { describe, expect, it } from 'vitest';
import type { KubeEvent } from '../../src/core/events.js';
import { isPullbenchError } from '../../src/errors.js';
import { ManualClock } from '../../src/core/clock.js';
import { EmulatedNode, type NodeOptions, type PodSpec } from '../../src/node/kubelet.js';
import { KUBERNETES_VERSIONS, containerdProfile, kubeletProfile, type KubernetesVersion } from '../../src/node/profiles.js';
import { FakeRuntime } from './helpers/fake-runtime.js';

function setup(version: KubernetesVersion, opts: Partial<NodeOptions> = {}, pullMs = 0) {
  const clock = new ManualClock(1_700_000_000_000);
  const runtime = new FakeRuntime(clock, pullMs);
  const node = new EmulatedNode({ name: 'node-1', runtime, clock, kubelet: kubeletProfile(version), ...opts });
  // Runs a pod to the end on the manual clock (pulls sleep on it).
  const run = async (spec: PodSpec): Promise<void> => {
    const done = node.runPod(spec);
    await clock.advance(0);
    await done;
  };
  return { clock, runtime, node, run };
}

const pod = (uid: string, image: string, policy?: 'Always' | 'IfNotPresent' | 'Never', extra: Partial<PodSpec> = {}): PodSpec => ({
  uid, name: `pod-${uid}`, namespace: 'default', containers: [{ name: 'app', image, ...(policy ? { imagePullPolicy: policy } : {}) }], ...extra,
});
const lines = (events: KubeEvent[], uid?: string): string[] =>
  events.filter((e) => !uid || e.involvedObject.uid === uid).map((e) => `${e.type} ${e.reason} ${e.message}`);
const before = (v: KubernetesVersion): KubernetesVersion[] => KUBERNETES_VERSIONS.filter((x) => KUBERNETES_VERSIONS.indexOf(x) < KUBERNETES_VERSIONS.indexOf(v));
const from = (v: KubernetesVersion): KubernetesVersion[] => KUBERNETES_VERSIONS.filter((x) => KUBERNETES_VERSIONS.indexOf(x) >= KUBERNETES_VERSIONS.indexOf(v));

describe('kubelet versions: Always and ImageStatus', () => {
  it.each(before('1.32'))('%s asks ImageStatus before an Always pull', async (v) => {
    const { run, runtime } = setup(v);
    await run(pod('u1', 'registry.example/app:1', 'Always'));
    expect(runtime.calls.map((c) => c.op)).toEqual(['status', 'pull', 'status']);
  });
  it.each(from('1.32'))('%s pulls at once under Always (imagePullPrecheck)', async (v) => {
    const { run, runtime } = setup(v);
    await run(pod('u1', 'registry.example/app:1', 'Always'));
    expect(runtime.calls.map((c) => c.op)).toEqual(['pull', 'status']);
  });
});

describe('kubelet versions: a runtime that cannot be asked', () => {
  it.each([['1.31', 'registry.example/app:1'], ['1.32', ''], ['1.35', '']] as const)('%s names %j in InspectFailed', async (v, named) => {
    const { node, runtime, clock } = setup(v);
    runtime.statusError = 'rpc error: code = Unavailable';
    void node.runPod(pod('u1', 'registry.example/app:1', 'IfNotPresent'));
    await clock.advance(0);
    expect(lines(node.events())[0]).toBe(`Warning InspectFailed Failed to inspect image "${named}": rpc error: code = Unavailable`);
    expect(node.status('u1')!.containers[0]!.status).toMatchObject({ reason: 'ImageInspectError' });
    node.deletePod('u1');
  });
});

describe('kubelet versions: the back-off waiting message', () => {
  async function backedOff(v: KubernetesVersion) {
    const { node, runtime, clock } = setup(v);
    const image = 'registry.example/missing:1';
    runtime.failing.set(image, 'not found');
    void node.runPod(pod('u1', image));
    await clock.advance(0);
    // Pod syncs retry after 10-15 s: by 30 s the second retry finds the back-off.
    await clock.advance(15_000);
    await clock.advance(15_000);
    const status = node.status('u1')!.containers[0]!.status;
    const backOffEvents = lines(node.events()).filter((l) => l.includes(' BackOff '));
    node.deletePod('u1');
    return { status, backOffEvents, image };
  }
  it('1.31 says only "Back-off pulling image"', async () => {
    const { status, image } = await backedOff('1.31');
    expect(status).toMatchObject({ reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` });
  });
  it.each(from('1.32'))('%s carries the previous error in the waiting message, not in the event', async (v) => {
    const { status, backOffEvents, image } = await backedOff(v);
    expect(status).toMatchObject({ reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}": ErrImagePull: not found` });
    expect(backOffEvents).toEqual([`Normal BackOff Back-off pulling image "${image}"`]);
  });
});

describe('kubelet versions: KEP-2535 under Never', () => {
  const image = 'registry.example/private/app:1';
  const secret = { lookup: () => [{ username: 'alice', password: 's3cret' }] };
  it.each(from('1.33'))('%s: a present image the pod may not use reads as not present', async (v) => {
    const { node, runtime, clock, run } = setup(v, { ensureSecretPulledImages: true });
    runtime.privateImages.set(image, { username: 'alice', password: 's3cret' });
    await run(pod('owner', image, 'IfNotPresent', { pullSecrets: secret }));
    void node.runPod(pod('other', image, 'Never'));
    await clock.advance(0);
    expect(lines(node.events(), 'other')).toEqual([
      `Warning ErrImageNeverPull Container image "${image}" is not present with pull policy of Never`,
      'Warning Failed Error: ErrImageNeverPull',
    ]);
    node.deletePod('other');
  });
  it.each(before('1.33'))('%s has no KEP-2535: the option is refused with INVALID_ARGUMENT', (v) => {
    let code: string | undefined;
    try {
      setup(v, { ensureSecretPulledImages: true });
    } catch (err) {
      code = isPullbenchError(err) ? err.code : 'not a PullbenchError';
    }
    expect(code).toBe('INVALID_ARGUMENT');
  });
});

describe('kubelet versions: container events', () => {
  it.each(before('1.35'))('%s writes "Created container: app" and "Started container app"', async (v) => {
    const { run, node } = setup(v);
    await run(pod('u1', 'registry.example/app:1'));
    expect(lines(node.events()).slice(-2)).toEqual(['Normal Created Created container: app', 'Normal Started Started container app']);
  });
  it('1.35 writes "Container created" and "Container started"', async () => {
    const { run, node } = setup('1.35');
    await run(pod('u1', 'registry.example/app:1'));
    expect(lines(node.events()).slice(-2)).toEqual(['Normal Created Container created', 'Normal Started Container started']);
  });
});

describe('version strings', () => {
  it('reads node info forms and clamps only when asked', () => {
    expect(kubeletProfile('v1.33.2').version).toBe('1.33');
    expect(containerdProfile('containerd://1.7.18').version).toBe('1.7');
    expect(containerdProfile('2.1.4')).toMatchObject({ downloadLimit: 'node', retriesServerErrorsOnLastHost: true });
    expect(containerdProfile('2.0')).toMatchObject({ downloadLimit: 'per-pull', retriesServerErrorsOnLastHost: false });
    expect(kubeletProfile('v1.36.0', true).version).toBe('1.35');
    expect(kubeletProfile('v1.29.1', true).version).toBe('1.31');
    expect(() => kubeletProfile('1.30')).toThrow(/not modelled/);
    expect(() => containerdProfile('banana')).toThrow(/not a version/);
  });
});
