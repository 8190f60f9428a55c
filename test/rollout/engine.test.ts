import { describe, expect, it } from 'vitest';
import type { Cluster, PodCondition, PodCreate } from '../../src/cluster/cluster.js';
import type { KubeEvent, PodObservation } from '../../src/core/events.js';
import { ManualClock } from '../../src/core/clock.js';
import { runRollouts } from '../../src/rollout/engine.js';
import { parseScenario } from '../../src/scenario/load.js';

// A unit seam: pods become ready `readyAfterMs` after creation, unless their image is "broken".
class FakeCluster implements Cluster {
  readonly driver = 'fake';
  readonly live = new Map<string, PodCreate>();
  readonly cond = new Map<string, PodCondition>();
  readonly listeners = new Set<() => void>();
  maxTotal = 0;
  minAvailableDuringUpdate = Infinity;
  tracking = false;
  private created = 0;
  pools: { name: string; nodes: string[] }[];
  constructor(readonly nodes: string[], private readonly clock: ManualClock, private readonly readyAfterMs: number | ((n: number) => number)) {
    this.pools = [{ name: 'default', nodes }];
  }
  createPod(pod: PodCreate): void {
    this.live.set(pod.uid, pod);
    this.cond.set(pod.uid, 'pending');
    this.maxTotal = Math.max(this.maxTotal, this.live.size);
    const after = typeof this.readyAfterMs === 'number' ? this.readyAfterMs : this.readyAfterMs(this.created++);
    void this.clock.sleep(after).then(() => {
      if (!this.live.has(pod.uid)) return;
      this.cond.set(pod.uid, pod.image.includes('broken') ? 'failed' : 'ready');
      this.listeners.forEach((l) => l());
    });
  }
  deletePod(uid: string): void {
    this.live.delete(uid);
    if (this.tracking) this.minAvailableDuringUpdate = Math.min(this.minAvailableDuringUpdate, [...this.live.keys()].filter((u) => this.cond.get(u) === 'ready').length);
  }
  conditionCalls = 0;
  condition(uid: string): PodCondition {
    this.conditionCalls++;
    return this.cond.get(uid) ?? 'pending';
  }
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  async nodeImages(): Promise<string[]> {
    return [];
  }
  events(): KubeEvent[] {
    return [];
  }
  observations(): PodObservation[] {
    return [];
  }
  versions(): Record<string, string> {
    return {};
  }
  // The rollout engine neither warms, empties nor measures links: the run's stages do.
  async prepull(): Promise<void> {}
  async makeCold(): Promise<boolean> {
    return false;
  }
  linkBytes(): { registry: number; mirror: number } {
    return { registry: 0, mirror: 0 };
  }
  assertEnoughData(): void {}
  async [Symbol.asyncDispose](): Promise<void> {}
}

const scenario = (rollouts: string) =>
  parseScenario(
    `apiVersion: pullbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: t }\nimages:\n  - { ref: demo/app:v1, synth: { layers: [1MB] } }\n  - { ref: demo/app:v2, synth: { layers: [1MB] } }\n  - { ref: demo/broken:v1, synth: { layers: [1MB] } }\nrollouts:\n${rollouts}`,
    's.yaml',
  ).scenario;

async function drive<T>(clock: ManualClock, work: Promise<T>): Promise<T> {
  let done = false;
  const result = work.finally(() => (done = true));
  while (!done) await clock.advance(50);
  return result;
}

describe('running rollouts against a cluster', () => {
  it('rolls a Deployment v1 -> v2 within maxSurge/maxUnavailable and ends with only new pods', async () => {
    const clock = new ManualClock(0);
    const cluster = new FakeCluster(['n1', 'n2', 'n3', 'n4'], clock, 100);
    const sc = scenario('  - { name: app, deployment: { image: demo/app:v1, replicas: 10, maxSurge: 25%, maxUnavailable: 25% } }\n  - { name: up, update: { target: app, image: demo/app:v2 } }\n');
    const steps = runRollouts(sc.rollouts.slice(0, 1), { cluster, clock, namespace: 'pb', pullPolicy: 'IfNotPresent', imageRef: (r) => `reg/${r}` });
    const [first] = await drive(clock, steps);
    expect(first).toMatchObject({ completed: true, kind: 'deployment' });
    expect(first!.pods).toHaveLength(10);
    expect(first!.durationMs).toBeGreaterThanOrEqual(100);
    expect(cluster.maxTotal).toBe(10);
  });

  it('keeps every invariant of the rolling update and takes several waves', async () => {
    const clock = new ManualClock(0);
    const cluster = new FakeCluster(['n1', 'n2', 'n3', 'n4'], clock, 100);
    const sc = scenario('  - { name: app, deployment: { image: demo/app:v1, replicas: 10, maxSurge: 25%, maxUnavailable: 25% } }\n  - { name: up, update: { target: app, image: demo/app:v2 } }\n');
    const results = await drive(
      clock,
      runRollouts(sc.rollouts, {
        cluster, clock, namespace: 'pb', pullPolicy: 'IfNotPresent', imageRef: (r) => `reg/${r}`,
        onProgress: (step) => { if (step === 'up') cluster.tracking = true; },
      }),
    );
    expect(results.map((r) => r.completed)).toEqual([true, true]);
    expect(results[1]!.kind).toBe('update');
    expect(results[1]!.pods).toHaveLength(10);
    expect([...cluster.live.values()].every((p) => p.image === 'reg/demo/app:v2')).toBe(true);
    expect(cluster.live.size).toBe(10);
    expect(cluster.maxTotal).toBe(13); // replicas + ceil(25% of 10)
    expect(cluster.minAvailableDuringUpdate).toBeGreaterThanOrEqual(8); // replicas - floor(25% of 10)
    expect(results[1]!.durationMs).toBe(200); // two waves: 5 new pods, then the other 5
  });

  it('stops at an abort: the step waiting for pods throws the reason at once and creates no more pods', async () => {
    const clock = new ManualClock(0);
    // Pods that never become ready: the step would wait out its 300 s timeout.
    const cluster = new FakeCluster(['n1', 'n2'], clock, 1e9);
    const sc = scenario('  - { name: app, deployment: { image: demo/app:v1, replicas: 4 } }\n  - { name: more, deployment: { image: demo/app:v2, replicas: 4 } }\n');
    const abort = new AbortController();
    const steps = runRollouts(sc.rollouts, { cluster, clock, namespace: 'pb', pullPolicy: 'IfNotPresent', imageRef: (r) => r, signal: abort.signal });
    const outcome = steps.then(() => 'finished', (err: unknown) => err);
    await clock.advance(1500);
    expect(cluster.live.size).toBe(4);
    const reason = new Error('interrupted');
    abort.abort(reason);
    // No clock advance: the abort itself wakes the step.
    expect(await outcome).toBe(reason);
    expect(cluster.live.size).toBe(4);
  });

  it('puts one DaemonSet pod on every node', async () => {
    const clock = new ManualClock(0);
    const cluster = new FakeCluster(['n1', 'n2', 'n3'], clock, 100);
    const sc = scenario('  - { name: agent, daemonSet: { image: demo/app:v1 } }\n');
    const [r] = await drive(clock, runRollouts(sc.rollouts, { cluster, clock, namespace: 'pb', pullPolicy: 'Always', imageRef: (x) => x }));
    expect([...cluster.live.values()].map((p) => p.node).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(r!.completed).toBe(true);
  });

  it("keeps a workload with a pool on that pool's nodes, a DaemonSet one pod per pool node, a Deployment spread over them", async () => {
    const clock = new ManualClock(0);
    const cluster = new FakeCluster(['core-node-1', 'core-node-2', 'edge-node-1', 'edge-node-2', 'edge-node-3'], clock, 100);
    cluster.pools = [{ name: 'core', nodes: ['core-node-1', 'core-node-2'] }, { name: 'edge', nodes: ['edge-node-1', 'edge-node-2', 'edge-node-3'] }];
    const sc = parseScenario(
      'apiVersion: pullbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: t }\nimages:\n  - { ref: demo/app:v1, synth: { layers: [1MB] } }\n'
        + 'cluster: { pools: [{ name: core, nodes: 2 }, { name: edge, nodes: 3 }] }\n'
        + 'rollouts:\n  - { name: agent, daemonSet: { image: demo/app:v1, pool: edge } }\n  - { name: api, deployment: { image: demo/app:v1, pool: core, replicas: 4 } }\n',
      's.yaml',
    ).scenario;
    const [agent, api] = await drive(clock, runRollouts(sc.rollouts, { cluster, clock, namespace: 'pb', pullPolicy: 'Always', imageRef: (x) => x }));
    const nodesOf = (rollout: string): string[] => [...cluster.live.values()].filter((p) => p.rollout === rollout).map((p) => p.node).sort();
    expect(agent!.completed && api!.completed).toBe(true);
    expect(nodesOf('agent')).toEqual(['edge-node-1', 'edge-node-2', 'edge-node-3']);
    expect(nodesOf('api')).toEqual(['core-node-1', 'core-node-1', 'core-node-2', 'core-node-2']);
    // Each pod names its workload's pool: a real cluster's driver turns it into the pod's nodeSelector.
    expect([...new Set([...cluster.live.values()].map((p) => `${p.rollout}:${p.pool}`))].sort()).toEqual(['agent:edge', 'api:core']);
  });

  it('settles a rollout expected to fail once its pods have failed, and times out one that should not fail', async () => {
    const clock = new ManualClock(0);
    const cluster = new FakeCluster(['n1'], clock, 100);
    const sc = scenario('  - { name: bad, deployment: { image: demo/broken:v1, replicas: 2 }, expect: failure }\n  - { name: worse, deployment: { image: demo/broken:v1, replicas: 1 }, timeout: 2s }\n');
    const [expected, unexpected] = await drive(clock, runRollouts(sc.rollouts, { cluster, clock, namespace: 'pb', pullPolicy: 'Always', imageRef: (x) => x }));
    expect(expected).toMatchObject({ completed: true, timedOut: false });
    expect(unexpected).toMatchObject({ completed: false, timedOut: true });
    expect(unexpected!.durationMs).toBeGreaterThanOrEqual(2000);
  });

  it('updates a DaemonSet on 1,000 nodes, pods ready one by one, in seconds (a sync is linear in pods)', async () => {
    const clock = new ManualClock(0);
    const nodes = Array.from({ length: 1000 }, (_, i) => `n${i}`);
    // Every pod ready at its own moment: one controller sync per readiness change.
    const cluster = new FakeCluster(nodes, clock, (n) => 100 + ((n * 7919) % 2000));
    const sc = scenario('  - { name: agent, daemonSet: { image: demo/app:v1, maxUnavailable: 10% } }\n  - { name: up, update: { target: agent, image: demo/app:v2 } }\n');
    const t0 = performance.now();
    const steps = await drive(clock, runRollouts(sc.rollouts, { cluster, clock, namespace: 'pb', pullPolicy: 'IfNotPresent', imageRef: (x) => x }));
    expect(steps.map((s) => s.completed)).toEqual([true, true]);
    expect([...cluster.live.values()].every((p) => p.image === 'demo/app:v2')).toBe(true);
    expect(cluster.live.size).toBe(1000);
    expect(performance.now() - t0).toBeLessThan(20_000);
  }, 60_000);

  it('runs a 5,000-replica Deployment whose pods turn ready one by one in seconds (a sync every pods/100 ms, not one per readiness change)', async () => {
    const clock = new ManualClock(0);
    const nodes = Array.from({ length: 1000 }, (_, i) => `n${i}`);
    const cluster = new FakeCluster(nodes, clock, (n) => 100 + ((n * 7919) % 20_000));
    const sc = scenario('  - { name: app, deployment: { image: demo/app:v1, replicas: 5000, maxSurge: 100%, maxUnavailable: 0 } }\n');
    const t0 = performance.now();
    const [step] = await drive(clock, runRollouts(sc.rollouts, { cluster, clock, namespace: 'pb', pullPolicy: 'IfNotPresent', imageRef: (x) => x }));
    expect(step).toMatchObject({ completed: true });
    expect(step!.pods).toHaveLength(5000);
    // The last pod is ready at ~20.1 s; the controller notices within one sync interval (50 ms at 5,000 pods).
    expect(step!.durationMs).toBeLessThanOrEqual(20_100 + 100);
    // A sync per readiness change looked at every pod each time: 50 M condition reads; now ~4 M (a pass every 50 ms).
    expect(cluster.conditionCalls).toBeLessThan(10_000_000);
    expect(performance.now() - t0).toBeLessThan(20_000);
  }, 120_000);
});
