import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  fromCoreV1Event,
  fromEventsV1Event,
  occurrenceTime,
  PodEventFilter,
  type CoreV1EventLike,
  type EventsV1EventLike,
} from '../../src/cluster/kube/event-conversion.js';

const fixture = JSON.parse(readFileSync(new URL('../fixtures/kubelet-events/core-v1-events.json', import.meta.url), 'utf8')) as {
  coreV1: CoreV1EventLike[];
  eventsV1: EventsV1EventLike[];
};
const [pulling, pulled, backOff, scheduled, endpoints] = fixture.coreV1 as [CoreV1EventLike, CoreV1EventLike, CoreV1EventLike, CoreV1EventLike, CoreV1EventLike];

describe('converting core/v1 Events', () => {
  it('keeps kubelet reason, message, pod UID, container fieldPath and node', () => {
    expect(fromCoreV1Event(pulled)).toEqual({
      type: 'Normal',
      reason: 'Pulled',
      message: 'Successfully pulled image "registry.pullbench.test:5000/bench/app:v1" in 2.512s (2.512s including waiting). Image size: 10485760 bytes.',
      involvedObject: { kind: 'Pod', namespace: 'pullbench-run', name: 'web-7d4b9c-abcde', uid: 'pod-uid-1', fieldPath: 'spec.containers{app}' },
      source: { component: 'kubelet', host: 'kind-worker' },
      timestamp: Date.parse('2026-11-21T10:00:04Z'),
      count: 1,
    });
    expect(fromCoreV1Event(pulling)?.timestamp).toBe(Date.parse('2026-11-21T10:00:01Z'));
  });

  it('dates a single event by eventTime (microseconds) when set, and takes reportingComponent when source is empty', () => {
    const ev = fromCoreV1Event(scheduled);
    expect(ev?.timestamp).toBe(Date.parse('2026-11-21T10:00:00.412Z'));
    expect(ev?.source).toEqual({ component: 'default-scheduler', host: 'default-scheduler-kind-control-plane' });
  });

  it('dates a repeated event (count > 1) by its last occurrence and keeps the count', () => {
    const ev = fromCoreV1Event(backOff);
    expect(ev?.timestamp).toBe(Date.parse('2026-11-21T10:01:10Z'));
    expect(ev?.count).toBe(5);
  });

  it('accepts Date objects as client-node deserialises them', () => {
    const ev = fromCoreV1Event({ ...pulled, firstTimestamp: new Date('2026-11-21T10:00:04Z'), lastTimestamp: new Date('2026-11-21T10:00:04Z') });
    expect(ev?.timestamp).toBe(Date.parse('2026-11-21T10:00:04Z'));
  });

  it('ignores objects pullbench does not track and events without any time', () => {
    expect(fromCoreV1Event(endpoints)).toBeUndefined();
    expect(fromCoreV1Event({ ...pulled, firstTimestamp: null, lastTimestamp: null, metadata: {} })).toBeUndefined();
    expect(fromCoreV1Event({ ...pulled, firstTimestamp: '0001-01-01T00:00:00Z', lastTimestamp: undefined, metadata: {} })).toBeUndefined();
  });
});

describe('converting events.k8s.io/v1 Events', () => {
  it('gives the same KubeEvent as the core/v1 view of the same event', () => {
    const [v1BackOff] = fixture.eventsV1 as [EventsV1EventLike];
    expect(fromEventsV1Event(v1BackOff)).toEqual(fromCoreV1Event(backOff));
  });

  it('dates a series by series.lastObservedTime and counts its occurrences', () => {
    const [, series] = fixture.eventsV1 as [EventsV1EventLike, EventsV1EventLike];
    const ev = fromEventsV1Event(series);
    expect(ev?.timestamp).toBe(Date.parse('2026-11-21T10:06:30.250Z'));
    expect(ev?.count).toBe(3);
    expect(ev?.message).toBe('Pulling image "nginx:1.27"');
  });

  it('falls back from series to lastTimestamp to eventTime', () => {
    expect(occurrenceTime({ count: 2, last: '2026-01-01T00:00:05Z', eventTime: '2026-01-01T00:00:01Z' })).toBe(Date.parse('2026-01-01T00:00:05Z'));
    expect(occurrenceTime({ count: 2, eventTime: '2026-01-01T00:00:01Z' })).toBe(Date.parse('2026-01-01T00:00:01Z'));
    expect(occurrenceTime({})).toBeUndefined();
  });
});

describe('matching events to pods', () => {
  it('keeps events of the run pods by UID, not by name, and drops relisted repeats', () => {
    const filter = new PodEventFilter(() => new Set(['pod-uid-1']));
    const ev = fromCoreV1Event(pulled);
    const sameNameOtherPod = fromCoreV1Event({ ...pulled, involvedObject: { ...pulled.involvedObject, uid: 'old-pod' } });
    expect(ev && filter.accept(ev, 'e2')).toBe(true);
    expect(ev && filter.accept(ev, 'e2')).toBe(false);
    expect(sameNameOtherPod && filter.accept(sameNameOtherPod, 'e2x')).toBe(false);
    const again = fromCoreV1Event({ ...backOff, involvedObject: { ...backOff.involvedObject, uid: 'pod-uid-1' } });
    expect(again && filter.accept(again, 'e3')).toBe(true);
    expect(again && filter.accept({ ...again, count: 6, timestamp: again.timestamp + 1000 }, 'e3')).toBe(true);
  });
});
