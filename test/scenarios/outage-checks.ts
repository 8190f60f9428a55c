import { expect } from 'vitest';
import { containerdProfile } from '../../src/node/profiles.js';
import type { ArmResult, RunResults } from '../../src/results/index.js';

// kubelet's image back-off (pkg/kubelet/images/image_manager.go, client-go flowcontrol.Backoff): 10 s, doubling to 300 s.
export const backoff = (failuresBefore: number): number => Math.min(10_000 * 2 ** (failuresBefore - 1), 300_000);
// The pod worker syncs a failed pod every 10-15 s (backOffPeriod 10 s, wait.Jitter 0.5), so a retry comes at most one
// sync after the image back-off.
export const SYNC_MS = 15_000;
export const SLACK_MS = 1_500;

/** What one arm of scenarios/registry-outage.yaml measured against what kubelet's schedule allows, pod by pod. */
export interface OutageFigures {
  hit: number;
  /** Failed attempts with cause serverError, of every pod (the typo's too). */
  failedAttempts: number;
  /** Each pod's measured recovery (Ready after the window's end), with the upper bound its schedule gives it. */
  recoveries: Array<{ pod: string; failures: number; ms: number; boundMs: number }>;
  /** 503s the fault front answered per failed attempt (2 on containerd 2.1+: the last host is asked again). */
  perAttempt: number;
  registryHeads: number;
  pulled: number;
  notFound: number;
}

/**
 * The acceptance of issue 22 on a run of scenarios/registry-outage.yaml (any scale): without a mirror every pod's
 * retries follow kubelet's back-off and it recovers within one back-off (plus a pod worker sync) of the outage's
 * end; faults lose nothing (every pod Ready or failed with a classified cause); the registry's and the fault
 * front's counters match the attempts the results report; with a mirror no pod fails.
 */
export function checkRegistryOutage(results: RunResults, outageMs: number): { direct: OutageFigures } {
  const direct = results.arms.find((a) => a.arm.topology === 'direct')!;
  const mirror = results.arms.find((a) => a.arm.topology === 'mirror')!;
  for (const arm of [direct, mirror]) {
    const rep = arm.repetitions[0]!;
    for (const p of rep.pods) {
      if (p.outcome !== 'ready') expect(p.pullFailures?.length && p.pullFailures.every((f) => f.cause !== 'other'), `${arm.arm.name} ${p.name}`).toBeTruthy();
    }
    const typo = rep.pods.filter((p) => p.rollout === 'typo');
    expect(typo.map((p) => [p.outcome, p.pullFailures![0]!.cause])).toEqual(typo.map(() => ['failed', 'notFound']));
  }
  expect(results.gate.passed).toBe(true);

  const figures = directFigures(direct, outageMs);
  // The mirror held v2 from the canary: the outage reached only the mirror's revalidation, never a pod.
  expect(mirror.aggregate.failures.byCause?.serverError).toBe(0);
  expect(mirror.repetitions[0]!.faults!.faulted['503']).toBeGreaterThan(0);
  expect(mirror.aggregate.recovery?.perRepetition).toEqual([0]);
  return { direct: figures };
}

function directFigures(direct: ArmResult, outageMs: number): OutageFigures {
  const rep = direct.repetitions[0]!;
  const [window] = rep.faults!.windows;
  expect(window!.endedAt - window!.startedAt).toBe(outageMs);
  const update = rep.pods.filter((p) => p.rollout === 'api-v2');
  const hit = update.filter((p) => (p.pullFailures?.length ?? 0) > 0);
  expect(hit.length).toBeGreaterThan(0);
  // The update's pods created inside the window met it, but on the canary's node (v2 present: no pull); those the
  // rolling update created after it (once the first wave was Ready) pulled at once.
  for (const p of update) {
    const presentFromTheStart = p.alreadyPresent && (p.pullAttempts?.length ?? 0) === 0;
    expect(hit.includes(p), p.name).toBe(p.createdAt < window!.endedAt - SLACK_MS && !presentFromTheStart);
  }
  const recoveries: OutageFigures['recoveries'] = [];
  for (const p of hit) {
    const attempts = p.pullAttempts!;
    const failures = p.pullFailures!;
    expect(p.outcome, p.name).toBe('ready');
    expect(failures.every((f) => f.cause === 'serverError' && f.at >= window!.startedAt && f.at <= window!.endedAt + SLACK_MS), p.name).toBe(true);
    // Each retry comes one back-off after the failure before it (rounded up to the pod worker's sync).
    for (let k = 1; k < attempts.length; k++) {
      const gap = attempts[k]! - attempts[k - 1]!;
      expect(gap, `${p.name} gap ${k}`).toBeGreaterThanOrEqual(backoff(k) - SLACK_MS);
      expect(gap, `${p.name} gap ${k}`).toBeLessThanOrEqual(backoff(k) + SYNC_MS + SLACK_MS);
    }
    // The attempt that succeeded is the first after the outage: recovery within one back-off (plus a sync) of its end.
    // A pod whose every attempt failed started on the image another pod on its node pulled in the meantime
    // (IfNotPresent: already present, no Pulling event), at its next sync after its back-off.
    if (failures.length < attempts.length) expect(attempts.at(-1)!, p.name).toBeGreaterThanOrEqual(window!.endedAt - SLACK_MS);
    else {
      const sinceFailure = p.readyAt! - failures.at(-1)!.at;
      expect(p.readyAt!, p.name).toBeGreaterThanOrEqual(window!.endedAt - SLACK_MS);
      expect(sinceFailure, p.name).toBeGreaterThanOrEqual(backoff(failures.length) - SLACK_MS);
      expect(sinceFailure, p.name).toBeLessThanOrEqual(backoff(failures.length) + SYNC_MS + SLACK_MS);
    }
    const boundMs = backoff(failures.length) + SYNC_MS + SLACK_MS;
    const ms = p.readyAt! - window!.endedAt;
    expect(ms, p.name).toBeLessThanOrEqual(boundMs);
    recoveries.push({ pod: p.name, failures: failures.length, ms, boundMs });
  }
  // The fault front's 503s are the attempts the results report as server errors, each attempt the same requests
  // (containerd 2.1+ asks the last host again after a 500/503/504, once, core/remotes/docker/resolver.go
  // retryRequest): nothing lost. Every pod's, not only the update's: the typo's pods (their step timed out, the pods
  // stay) retry on their own back-off and meet the outage too; counting the update's alone gave 3 per attempt.
  const failedAttempts = rep.pods.reduce((n, p) => n + (p.pullFailures ?? []).filter((f) => f.cause === 'serverError').length, 0);
  const perAttempt = rep.faults!.faulted['503']! / failedAttempts;
  expect(perAttempt).toBe(containerdProfile().retriesServerErrorsOnLastHost ? 2 : 1);
  // The registry saw one manifest HEAD per attempt that reached it: each pull that succeeded, each typo attempt (404).
  const pulled = rep.pods.filter((p) => p.pulledAt !== undefined && !p.alreadyPresent).length;
  const notFound = rep.pods.reduce((n, p) => n + (p.pullFailures ?? []).filter((f) => f.cause === 'notFound').length, 0);
  expect(rep.registry.manifestHead).toBe(pulled + notFound);
  expect(direct.aggregate.recovery?.notRecovered).toBe(0);
  expect(direct.aggregate.recovery!.ms!.mean).toBeGreaterThan(0);
  return { hit: hit.length, failedAttempts, recoveries, perAttempt, registryHeads: rep.registry.manifestHead, pulled, notFound };
}
