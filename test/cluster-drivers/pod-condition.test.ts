import { describe, expect, it } from 'vitest';
import { deploymentManifest, podManifest } from '../../src/cluster/kube/manifests.js';
import { podConditionOf, type PodLike } from '../../src/cluster/kube/pod-status.js';

const at = '2026-01-01T00:00:00Z';
/** A pod as the API server returns it, with the one container in `state`. */
function pod(state: NonNullable<NonNullable<PodLike['status']>['containerStatuses']>[number]['state'], ready = false): PodLike {
  return {
    metadata: { uid: 'u', name: 'web-1', creationTimestamp: at },
    spec: { nodeName: 'kind-worker' },
    status: {
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: at },
        { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: '2026-01-01T00:00:03Z' },
      ],
      containerStatuses: [{ name: 'app', image: 'pullbench-registry:5000/bench/app:v1', ...(state ? { state } : {}) }],
    },
  };
}

describe('when a pod counts as ready or failed on a real cluster', () => {
  it('is ready once Ready is True: a running container without a probe (a synthesised image runs /pause)', () => {
    expect(podConditionOf(pod({ running: { startedAt: at } }, true))).toBe('ready');
    expect(podConditionOf(pod({ running: { startedAt: at } }, false))).toBe('pending');
  });

  it('stays pending while the kubelet still works on it (creating, a pull being retried)', () => {
    expect(podConditionOf(pod({ waiting: { reason: 'ContainerCreating' } }))).toBe('pending');
    expect(podConditionOf(pod({ waiting: { reason: 'ErrImagePull', message: 'rpc error' } }))).toBe('pending');
    expect(podConditionOf(undefined)).toBe('pending');
  });

  it('fails a pod whose container cannot start or keeps exiting, instead of waiting for the rollout timeout', () => {
    for (const reason of ['CreateContainerError', 'RunContainerError', 'CrashLoopBackOff', 'ImagePullBackOff', 'ErrImageNeverPull', 'CreateContainerConfigError']) {
      expect(podConditionOf(pod({ waiting: { reason } })), reason).toBe('failed');
    }
    expect(podConditionOf(undefined, 'namespaces "x" not found')).toBe('failed');
  });
});

describe('what pods run on a real cluster', () => {
  const base = { name: 'web-1', namespace: 'pb', runId: 'r', workload: 'web', id: 'p1', image: 'pullbench-registry:5000/bench/app:v1', pullPolicy: 'Always' as const, pullSecrets: [], node: 'kind-worker' };

  it("runs the image's own entrypoint: no command, no shell, when the scenario sets none", () => {
    const container = podManifest(base).spec!.containers[0]!;
    expect(container).toEqual({ name: 'app', image: base.image, imagePullPolicy: 'Always' });
    expect(container.command).toBeUndefined();
    expect(container.args).toBeUndefined();
    const deployment = deploymentManifest({ ...base, replicas: 2 }).spec!.template.spec!.containers[0]!;
    expect(deployment.command).toBeUndefined();
  });

  it('leaves imagePullPolicy out for the API server to default when the arm says Default', () => {
    const { pullPolicy: _, ...rest } = base;
    expect(podManifest(rest).spec!.containers[0]!).toEqual({ name: 'app', image: base.image });
  });

  it("overrides the entrypoint only with the scenario's command, as given", () => {
    expect(podManifest({ ...base, command: ['sleep', '3600'] }).spec!.containers[0]!.command).toEqual(['sleep', '3600']);
  });

  it("puts the scenario's env on the container (where a real cluster's users put HTTP_PROXY by mistake), and none when it sets none", () => {
    const env = [{ name: 'HTTP_PROXY', value: 'http://proxy.corp:3128' }];
    expect(podManifest({ ...base, env }).spec!.containers[0]!.env).toEqual(env);
    expect(podManifest({ ...base, env: [] }).spec!.containers[0]!.env).toBeUndefined();
  });

  it('ends pods fast: /pause exits 0 on SIGTERM, within the 1 s grace period', () => {
    expect(podManifest(base).spec!.terminationGracePeriodSeconds).toBe(1);
  });
});
