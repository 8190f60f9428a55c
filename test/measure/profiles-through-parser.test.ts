import { describe, expect, it } from 'vitest';
import type { PodObservation } from '../../src/core/events.js';
import { buildTimelines } from '../../src/measure/timeline.js';
import { ManualClock } from '../../src/core/clock.js';
import { EmulatedNode } from '../../src/node/kubelet.js';
import { KUBERNETES_VERSIONS, kubeletProfile } from '../../src/node/profiles.js';
import { FakeRuntime } from '../node/helpers/fake-runtime.js';

// Three pods on a node of each release: one that pulls and starts, one whose pull fails into back-off, one Never
// pod whose image is absent. Whatever texts the release writes, the one parser must read the same outcomes.
async function timelines(version: string) {
  const clock = new ManualClock(1_700_000_000_000);
  const runtime = new FakeRuntime(clock, 1500);
  runtime.failing.set('registry.example/missing:1', 'not found');
  const node = new EmulatedNode({ name: 'n1', runtime, clock, kubelet: kubeletProfile(version) });
  const pods: PodObservation[] = [];
  const run = (uid: string, image: string, imagePullPolicy?: 'Never') => {
    pods.push({ uid, name: uid, namespace: 'default', rollout: 'r', image, node: 'n1', createdAt: clock.now() });
    void node.runPod({ uid, name: uid, namespace: 'default', containers: [{ name: 'app', image, ...(imagePullPolicy ? { imagePullPolicy } : {}) }] });
  };
  run('ok', 'registry.example/app:1');
  run('bad', 'registry.example/missing:1');
  run('never', 'registry.example/absent:1', 'Never');
  for (let i = 0; i < 4; i++) await clock.advance(10_000);
  for (const p of pods) {
    const waiting = node.status(p.uid)?.containers[0]?.status.state === 'waiting' ? (node.status(p.uid)!.containers[0]!.status as { reason: string }).reason : undefined;
    if (waiting === undefined) delete p.waitingReason;
    else p.waitingReason = waiting;
  }
  const out = buildTimelines(node.events(), pods).map((t) => ({ uid: t.uid, outcome: t.outcome, failureReason: t.failureReason, pullMs: t.pullMs, pullErrors: t.pullErrors > 0 }));
  for (const p of pods) node.deletePod(p.uid);
  return out;
}

describe('every kubelet profile through the one parser', () => {
  it.each(KUBERNETES_VERSIONS)('%s: the same outcomes and pull times', async (v) => {
    expect(await timelines(v)).toEqual([
      { uid: 'ok', outcome: 'ready', failureReason: undefined, pullMs: 1500, pullErrors: false },
      { uid: 'bad', outcome: 'failed', failureReason: 'ErrImagePull', pullMs: undefined, pullErrors: true },
      { uid: 'never', outcome: 'failed', failureReason: 'ErrImageNeverPull', pullMs: undefined, pullErrors: false },
    ]);
  });
});
