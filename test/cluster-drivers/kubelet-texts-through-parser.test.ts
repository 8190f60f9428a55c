import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { PodObservation } from '../../src/core/events.js';
import { fromCoreV1Event, type CoreV1EventLike } from '../../src/cluster/kube/event-conversion.js';
import { buildTimelines } from '../../src/measure/timeline.js';

interface Example { message: string; image: string; pullMs: number; withWaitingMs?: number; sizeBytes?: number }
const texts = JSON.parse(readFileSync(new URL('../fixtures/kubelet-events/pulled-messages.json', import.meta.url), 'utf8')) as {
  forms: Array<{ form: string; kubelet: string; examples: Example[] }>;
  others: Array<{ reason: string; type: string; message: string; image?: string }>;
};

const T0 = Date.parse('2026-11-21T10:00:00Z');

/** A core/v1 Event exactly as the API server lists a kubelet-recorded one. */
function apiEvent(uid: string, reason: string, message: string, at: number, type = 'Normal', count = 1): CoreV1EventLike {
  const iso = new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    metadata: { name: `pod-${uid}.${at}`, creationTimestamp: iso },
    involvedObject: { kind: 'Pod', namespace: 'pullbench-run', name: `pod-${uid}`, uid, fieldPath: 'spec.containers{app}' },
    reason,
    message,
    type,
    source: { component: 'kubelet', host: 'kind-worker' },
    firstTimestamp: iso,
    lastTimestamp: iso,
    count,
    eventTime: null,
  };
}

function observation(uid: string, image: string, extra: Partial<PodObservation> = {}): PodObservation {
  return { uid, name: `pod-${uid}`, namespace: 'pullbench-run', rollout: 'web', image, node: 'kind-worker', createdAt: T0, ...extra };
}

describe('real kubelet texts, converted from core/v1 Events, through the one parser', () => {
  for (const form of texts.forms) {
    describe(`the ${form.form} form (kubelet ${form.kubelet})`, () => {
      for (const [i, ex] of form.examples.entries()) {
        it(`reads ${JSON.stringify(ex.message.slice(0, 60))}...`, () => {
          const uid = `${form.form}-${i}`;
          const events = [
            apiEvent(uid, 'Pulling', `Pulling image "${ex.image}"`, T0 + 1000),
            apiEvent(uid, 'Pulled', ex.message, T0 + 1000 + Math.ceil(ex.pullMs / 1000) * 1000),
            apiEvent(uid, 'Started', 'Started container app', T0 + 20_000 + ex.pullMs),
          ].map((e) => fromCoreV1Event(e));
          expect(events.every((e) => e !== undefined)).toBe(true);
          const [t] = buildTimelines(events.filter((e) => e !== undefined), [observation(uid, ex.image)]);
          expect(t?.pullSource).toBe('message');
          expect(t?.pullMs).toBeCloseTo(ex.pullMs, 3);
          expect(t?.pullWithWaitingMs).toBeCloseTo(ex.withWaitingMs ?? ex.pullMs, 3);
          expect(t?.imageSizeBytes).toBe(ex.sizeBytes);
          expect(t?.pullStartedAt).toBe(T0 + 1000);
          expect(t?.outcome).toBe('ready');
        });
      }
    });
  }

  it('reads "already present" as no pull', () => {
    const present = texts.others.find((o) => o.message.includes('already present'));
    const ev = fromCoreV1Event(apiEvent('p', 'Pulled', present?.message ?? '', T0 + 500));
    const [t] = buildTimelines(ev ? [ev] : [], [observation('p', present?.image ?? '', { readyAt: T0 + 2000 })]);
    expect(t?.alreadyPresent).toBe(true);
    expect(t?.pullMs).toBeUndefined();
  });

  it('reads a failed pull with back-off as a failure with its errors counted', () => {
    const failed = texts.others.filter((o) => o.reason === 'Failed' || o.reason === 'BackOff');
    const events = failed.map((o, i) => fromCoreV1Event(apiEvent('f', o.reason, o.message, T0 + i * 1000, o.type, o.reason === 'BackOff' ? 4 : 1)));
    const [t] = buildTimelines(events.filter((e) => e !== undefined), [observation('f', 'registry.example.com/private/app:v1')]);
    expect(t?.outcome).toBe('failed');
    expect(t?.pullErrors).toBe(1);
    expect(t?.lastError).toMatch(/401 Unauthorized/);
    expect(t?.failureReason).toBe('ImagePullBackOff');
  });

  it('reads ErrImageNeverPull', () => {
    const never = texts.others.find((o) => o.reason === 'ErrImageNeverPull');
    const ev = fromCoreV1Event(apiEvent('n', 'ErrImageNeverPull', never?.message ?? '', T0, 'Warning'));
    const [t] = buildTimelines(ev ? [ev] : [], [observation('n', 'app:v1')]);
    expect(t?.failureReason).toBe('ErrImageNeverPull');
  });
});
