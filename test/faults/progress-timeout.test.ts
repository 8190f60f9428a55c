import { describe, expect, it } from 'vitest';
import { runScenario } from '../../src/run/run.js';
import { parseScenario } from '../../src/scenario/load.js';

// One node, one pod; the registry stalls every request for 6 s from the rollout's start, and containerd's
// image_pull_progress_timeout is 1 s.
const scenario = (containerdVersion: string, layerStore: string): string => `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: progress-timeout }
images: [{ ref: demo/app:v1, synth: { layers: [300kB] } }]
faults: [{ target: registry, at: 0s, for: 6s, kind: stall }]
cluster: { nodes: 1, layerStore: ${layerStore}, containerdVersion: '${containerdVersion}', kubelet: { imagePullProgressTimeout: 1s } }
rollouts:
  - { name: app, deployment: { image: demo/app:v1, replicas: 1 }, timeout: 40s }
`;

describe('a stalled pull meets containerd\'s image_pull_progress_timeout', { timeout: 90_000 }, () => {
  it('1.7: the held pull is cancelled (a timeout), kubelet backs off, and the retry after the stall succeeds', async () => {
    const { results } = await runScenario(parseScenario(scenario('1.7', 'disk'), 'p.yaml'), { writeOutputs: false });
    const arm = results.arms[0]!;
    const rep = arm.repetitions[0]!;
    const pod = rep.pods[0]!;
    const [window] = rep.faults!.windows;
    expect(pod.outcome).toBe('ready');
    expect(pod.pullFailures?.map((f) => f.cause)).toEqual(['timeout']);
    // Cancelled inside the window, after the timeout: not held until the window's end as without the check.
    expect(pod.pullFailures![0]!.at).toBeGreaterThanOrEqual(window!.startedAt + 1000);
    expect(pod.pullFailures![0]!.at).toBeLessThan(window!.endedAt);
    const [first, second] = pod.pullAttempts!;
    expect(second! - first!).toBeGreaterThanOrEqual(9_900);
    expect(arm.aggregate.failures.byCause?.timeout).toBe(1);
    expect(results.environment.cluster).toMatchObject({ containerdVersion: '1.7', 'containerd.image_pull_progress_timeout': '1s' });
  });

  it('2.1: a request held before its first byte is no progress the transfer service reports, so the pull waits', async () => {
    const { results } = await runScenario(parseScenario(scenario('2.1', 'inflate-only'), 'p.yaml'), { writeOutputs: false });
    const rep = results.arms[0]!.repetitions[0]!;
    const pod = rep.pods[0]!;
    expect(pod.outcome).toBe('ready');
    expect(pod.pullFailures).toEqual([]);
    expect(pod.pulledAt!).toBeGreaterThanOrEqual(rep.faults!.windows[0]!.endedAt);
  });
});
