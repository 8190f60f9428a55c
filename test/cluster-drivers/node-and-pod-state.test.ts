import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assertCold, cacheIsCold, cacheIsWarm, clusterVersions, imageAliases, imagesPresent, type NodeLike } from '../../src/cluster/kube/node-state.js';
import { assertCoverage, timelineFromStatus } from '../../src/cluster/kube/pod-status.js';
import { isPullbenchError } from '../../src/errors.js';

const node = JSON.parse(readFileSync(new URL('../fixtures/kubelet-events/node-status-images.json', import.meta.url), 'utf8')) as NodeLike;

describe('Node.status.images', () => {
  it('finds images under the names pods use, short or fully qualified', () => {
    expect(imageAliases('nginx:1.27')).toContain('docker.io/library/nginx:1.27');
    expect(imagesPresent([node], ['nginx:1.27', 'registry.pullbench.test:5000/bench/app:v1', 'registry.pullbench.test:5000/bench/app:v2'])).toEqual({
      'kind-worker': ['nginx:1.27', 'registry.pullbench.test:5000/bench/app:v1'],
    });
  });

  it('says cold only when no node lists the images, warm only when every node lists them all', () => {
    expect(cacheIsCold([node], ['registry.pullbench.test:5000/bench/app:v2'])).toBe(true);
    expect(cacheIsCold([node], ['registry.pullbench.test:5000/bench/app:v1'])).toBe(false);
    expect(cacheIsWarm([node, { metadata: { name: 'empty' }, status: { images: null } }], ['nginx:1.27'])).toBe(false);
    expect(cacheIsWarm([node], ['nginx:1.27'])).toBe(true);
    try {
      assertCold([node], ['nginx:1.27']);
      expect.unreachable();
    } catch (err) {
      expect(isPullbenchError(err, 'CLUSTER_ERROR')).toBe(true);
    }
  });

  it('reads the Kubernetes and container runtime versions results are marked with', () => {
    expect(clusterVersions('v1.31.0', [node, node])).toEqual({
      kubernetes: 'v1.31.0',
      containerRuntimes: ['containerd://1.7.18'],
      kubelets: ['v1.31.0'],
      kubeletProfile: '1.31',
      containerdProfile: '1.7',
    });
  });

  it('picks the profiles of the oldest kubelet and containerd, the nearest modelled release outside the range', () => {
    const at = (kubelet: string, runtime: string) => ({ metadata: { name: kubelet }, status: { nodeInfo: { kubeletVersion: kubelet, containerRuntimeVersion: runtime } } });
    expect(clusterVersions('v1.35.1', [at('v1.35.1', 'containerd://2.1.4'), at('v1.33.5', 'containerd://2.0.6')])).toMatchObject({
      kubeletProfile: '1.33',
      containerdProfile: '2.0',
    });
    expect(clusterVersions('v1.37.0', [at('v1.37.0', 'containerd://2.2.1')])).toMatchObject({ kubeletProfile: '1.35', containerdProfile: '2.1' });
    expect(clusterVersions('v1.30.2', [at('v1.30.2', 'cri-o://1.30.0')])).toEqual({
      kubernetes: 'v1.30.2', containerRuntimes: ['cri-o://1.30.0'], kubelets: ['v1.30.2'], kubeletProfile: '1.31',
    });
  });
});

describe('the container-status fallback', () => {
  const pod = {
    metadata: { uid: 'u1', name: 'web-1', creationTimestamp: '2026-11-21T10:00:00Z' },
    spec: { nodeName: 'kind-worker' },
    status: {
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-11-21T10:00:01Z' },
        { type: 'Ready', status: 'True', lastTransitionTime: '2026-11-21T10:00:09Z' },
      ],
      containerStatuses: [{ name: 'app', imageID: 'registry.pullbench.test:5000/bench/app@sha256:abc', state: { running: { startedAt: '2026-11-21T10:00:07Z' } } }],
    },
  };

  it('bounds the pull between scheduling and container start, and cannot say more', () => {
    const t = timelineFromStatus(pod);
    expect(t).toMatchObject({ uid: 'u1', node: 'kind-worker', imageResolved: true, pullUpperBoundMs: 6000 });
    expect(t.readyAt).toBe(Date.parse('2026-11-21T10:00:09Z'));
    expect(t).not.toHaveProperty('failureReason');
  });

  it('reports a pull failure from the waiting reason', () => {
    const failing = { ...pod, status: { ...pod.status, containerStatuses: [{ name: 'app', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off' } } }] } };
    expect(timelineFromStatus(failing)).toMatchObject({ failureReason: 'ImagePullBackOff', imageResolved: false });
  });
});

describe('run validity', () => {
  const uids = Array.from({ length: 20 }, (_, i) => `p${i}`);
  it('accepts up to 10% of pods without data', () => {
    expect(assertCoverage(uids, new Set(uids.slice(2))).missing).toEqual(['p0', 'p1']);
  });
  it('marks the run invalid above 10%', () => {
    try {
      assertCoverage(uids, new Set(uids.slice(3)));
      expect.unreachable();
    } catch (err) {
      expect(isPullbenchError(err, 'RUN_INVALID')).toBe(true);
    }
  });
});
