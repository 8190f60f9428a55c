import { describe, expect, it } from 'vitest';
import type { KubeEvent, PodObservation } from '../../src/core/events.js';
import { parseGoDuration } from '../../src/measure/go-duration.js';
import { buildTimelines, parsePulledMessage } from '../../src/measure/timeline.js';

const pod = (over: Partial<PodObservation> = {}): PodObservation => ({
  uid: 'u1', name: 'app-1', namespace: 'pb', rollout: 'app', image: 'r/app:v1', createdAt: 1000, ...over,
});
const ev = (reason: string, message: string, timestamp: number, over: Partial<KubeEvent> = {}): KubeEvent => ({
  type: reason === 'Failed' || reason === 'ErrImageNeverPull' ? 'Warning' : 'Normal',
  reason,
  message,
  involvedObject: { kind: 'Pod', name: 'app-1', namespace: 'pb', uid: 'u1', fieldPath: 'spec.containers{app}' },
  source: { component: 'kubelet', host: 'node-1' },
  timestamp,
  ...over,
});

describe('Go durations as kubelet prints them', () => {
  it.each([
    ['850ms', 850], ['1.234s', 1234], ['1m2.5s', 62_500], ['2h0m0s', 7_200_000], ['0s', 0], ['1.5µs', 0.0015], ['250us', 0.25],
  ])('%s -> %d ms', (text, ms) => expect(parseGoDuration(text)).toBeCloseTo(ms, 6));
  it('rejects what is not a duration', () => {
    expect(parseGoDuration('1.2')).toBeUndefined();
    expect(parseGoDuration('fast')).toBeUndefined();
  });
});

describe('the Pulled message in every kubelet form', () => {
  it('kubelet >= 1.30: durations and image size', () => {
    expect(parsePulledMessage('Successfully pulled image "docker.io/library/nginx:1.25" in 1.234s (1.5s including waiting). Image size: 70522412 bytes.')).toEqual({
      image: 'docker.io/library/nginx:1.25', pullMs: 1234, pullWithWaitingMs: 1500, imageSizeBytes: 70522412,
    });
  });
  it('kubelet 1.28-1.29: durations without the size', () => {
    expect(parsePulledMessage('Successfully pulled image "nginx" in 1m2.5s (1m3s including waiting)')).toEqual({ image: 'nginx', pullMs: 62_500, pullWithWaitingMs: 63_000 });
  });
  it('kubelet 1.19-1.27: one duration, which includes waiting', () => {
    expect(parsePulledMessage('Successfully pulled image "nginx" in 850.123456ms')).toEqual({ image: 'nginx', pullMs: 850.123456, pullWithWaitingMs: 850.123456 });
  });
  it('older kubelets: no duration', () => {
    expect(parsePulledMessage('Successfully pulled image "nginx"')).toEqual({ image: 'nginx' });
  });
  it('not a pull', () => {
    expect(parsePulledMessage('Container image "nginx" already present on machine')).toBeUndefined();
  });
});

describe('per-pod timelines', () => {
  it('follow a pod from creation to ready', () => {
    const [t] = buildTimelines(
      [
        ev('Scheduled', 'Successfully assigned pb/app-1 to node-3', 1010, { source: { component: 'default-scheduler' } }),
        ev('Pulling', 'Pulling image "r/app:v1"', 1020),
        ev('Pulled', 'Successfully pulled image "r/app:v1" in 400ms (900ms including waiting). Image size: 1234 bytes.', 1920),
        ev('Created', 'Created container: app', 1925),
        ev('Started', 'Started container app', 1930),
      ],
      [pod({ readyAt: 1940 })],
    );
    expect(t).toMatchObject({
      node: 'node-3', scheduledAt: 1010, pullStartedAt: 1020, pulledAt: 1920, startedAt: 1930, readyAt: 1940,
      pullMs: 400, pullWithWaitingMs: 900, imageSizeBytes: 1234, pullSource: 'message', alreadyPresent: false, outcome: 'ready',
    });
  });

  it('fall back to Pulling -> Pulled timestamps for the oldest form', () => {
    const [t] = buildTimelines(
      [ev('Pulling', 'Pulling image "r/app:v1"', 2000), ev('Pulled', 'Successfully pulled image "r/app:v1"', 5000), ev('Started', 'Started container app', 5100)],
      [pod()],
    );
    expect(t).toMatchObject({ pullMs: 3000, pullWithWaitingMs: 3000, pullSource: 'timestamps', outcome: 'ready' });
  });

  it('mark images already present (with or without the KEP-2535 suffix)', () => {
    const [a, b] = buildTimelines(
      [
        ev('Pulled', 'Container image "r/app:v1" already present on machine', 1100),
        ev('Pulled', 'Container image "r/app:v1" already present on machine and can be accessed by the pod', 1100, {
          involvedObject: { kind: 'Pod', name: 'app-2', uid: 'u2' },
        }),
      ],
      [pod(), pod({ uid: 'u2', name: 'app-2' })],
    );
    expect(a!.alreadyPresent).toBe(true);
    expect(b!.alreadyPresent).toBe(true);
    expect(a!.pullMs).toBeUndefined();
  });

  it('count failed pulls and give the failure reason', () => {
    const [t] = buildTimelines(
      [
        ev('Pulling', 'Pulling image "r/app:v1"', 1100),
        ev('Failed', 'Failed to pull image "r/app:v1": unauthorized', 1200),
        ev('Failed', 'Error: ErrImagePull', 1200),
        ev('BackOff', 'Back-off pulling image "r/app:v1"', 1300),
        ev('Failed', 'Error: ImagePullBackOff', 1300),
        ev('Pulling', 'Pulling image "r/app:v1"', 11_300),
        ev('Failed', 'Failed to pull image "r/app:v1": unauthorized', 11_400, { count: 2 }),
      ],
      [pod({ expectFailure: true })],
    );
    expect(t).toMatchObject({ pullErrors: 3, outcome: 'failed', failureReason: 'ImagePullBackOff', expectFailure: true, pullStartedAt: 1100 });
  });

  it('prefer the waiting reason the cluster reports', () => {
    const [t] = buildTimelines([ev('ErrImageNeverPull', 'Container image "r/app:v1" is not present with pull policy of Never', 1100)], [pod({ waitingReason: 'ErrImageNeverPull' })]);
    expect(t).toMatchObject({ outcome: 'failed', failureReason: 'ErrImageNeverPull' });
  });

  it('leave a pod with no news pending, and ignore events of other objects', () => {
    const [t] = buildTimelines([ev('Started', 'x', 1, { involvedObject: { kind: 'Node', name: 'n', uid: 'u1' } })], [pod()]);
    expect(t!.outcome).toBe('pending');
  });
});
