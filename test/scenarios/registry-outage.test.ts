import { describe, expect, it } from 'vitest';
import { containerdProfile } from '../../src/node/profiles.js';
import { runScenario } from '../../src/run/run.js';
import { loadScenario } from '../../src/scenario/load.js';

// kubelet's image back-off (pkg/kubelet/images/image_manager.go, flowcontrol.Backoff): 10 s, doubling to 300 s.
const backoff = (failuresBefore: number): number => Math.min(10_000 * 2 ** (failuresBefore - 1), 300_000);
// The pod worker syncs a failed pod every 10-15 s (backOffPeriod 10 s, wait.Jitter 0.5), so a retry comes at most one
// sync after the image back-off.
const SYNC_MS = 15_000;
const SLACK_MS = 1_500;

describe('scenarios/registry-outage.yaml, scaled to 4 nodes and a 15 s outage', { timeout: 240_000 }, () => {
  it('direct: pods retry on kubelet\'s back-off and recover after the outage; mirror: no pod fails; the typo fails as expected', async () => {
    const loaded = await loadScenario('scenarios/registry-outage.yaml', {
      set: ['cluster.nodes=4', 'rollouts[0].deployment.replicas=4', 'faults[0].for=15s', 'cluster.layerStore=inflate-only', 'rollouts[2].timeout=20s'],
    });
    const { results } = await runScenario(loaded, { writeOutputs: false });
    const direct = results.arms.find((a) => a.arm.topology === 'direct')!;
    const mirror = results.arms.find((a) => a.arm.topology === 'mirror')!;

    for (const arm of [direct, mirror]) {
      const rep = arm.repetitions[0]!;
      // Faults lose nothing: every pod is Ready, or failed with a classified cause.
      for (const p of rep.pods) {
        if (p.outcome !== 'ready') expect(p.pullFailures?.length && p.pullFailures.every((f) => f.cause !== 'other')).toBeTruthy();
      }
      const typo = rep.pods.filter((p) => p.rollout === 'typo');
      expect(typo.map((p) => [p.outcome, p.pullFailures![0]!.cause])).toEqual([['failed', 'notFound'], ['failed', 'notFound']]);
    }
    expect(results.gate.passed).toBe(true);

    const rep = direct.repetitions[0]!;
    const [window] = rep.faults!.windows;
    expect(window!.endedAt - window!.startedAt).toBe(15_000);
    const hit = rep.pods.filter((p) => p.rollout === 'api-v2' && (p.pullFailures?.length ?? 0) > 0);
    expect(hit.length).toBeGreaterThan(0);
    for (const p of hit) {
      const attempts = p.pullAttempts!;
      const failures = p.pullFailures!;
      expect(failures.every((f) => f.cause === 'serverError' && f.at >= window!.startedAt && f.at <= window!.endedAt + SLACK_MS)).toBe(true);
      // Each retry comes one back-off after the failure before it (rounded up to the pod worker's sync).
      for (let k = 1; k < attempts.length; k++) {
        const gap = attempts[k]! - attempts[k - 1]!;
        expect(gap).toBeGreaterThanOrEqual(backoff(k) - SLACK_MS);
        expect(gap).toBeLessThanOrEqual(backoff(k) + SYNC_MS + SLACK_MS);
      }
      // The attempt that succeeded is the first after the outage: recovery within one back-off (plus a sync) of its end.
      expect(attempts.at(-1)!).toBeGreaterThanOrEqual(window!.endedAt - SLACK_MS);
      expect(p.readyAt! - window!.endedAt).toBeLessThanOrEqual(backoff(failures.length) + SYNC_MS + SLACK_MS);
    }
    // The registry's 503s are the attempts the results report as server errors, each attempt the same few requests
    // (containerd 2.1+ asks the last host again after a 500/503/504, core/remotes/docker/resolver.go): nothing lost.
    const failedAttempts = hit.reduce((n, p) => n + p.pullFailures!.length, 0);
    const perAttempt = rep.faults!.faulted['503']! / failedAttempts;
    expect(Number.isInteger(perAttempt)).toBe(true);
    expect(perAttempt).toBeGreaterThanOrEqual(containerdProfile().retriesServerErrorsOnLastHost ? 2 : 1);
    expect(direct.aggregate.recovery?.notRecovered).toBe(0);
    expect(direct.aggregate.recovery!.ms!.mean).toBeGreaterThan(0);

    // The mirror held v2 from the canary: the outage reached only the mirror's revalidation, never a pod.
    expect(mirror.aggregate.failures.byCause?.serverError).toBe(0);
    expect(mirror.repetitions[0]!.faults!.faulted['503']).toBeGreaterThan(0);
    expect(mirror.aggregate.recovery?.perRepetition).toEqual([0]);
  });
});
