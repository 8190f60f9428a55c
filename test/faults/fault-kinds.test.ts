import { describe, expect, it } from 'vitest';
import { runScenario } from '../../src/run/run.js';
import { parseScenario } from '../../src/scenario/load.js';

// One node, one pod, real HTTP through the fault front: the pod's first attempt meets the fault, kubelet backs off
// 10 s, and the retry after the 2 s window succeeds. The kubelet message of the failed attempt names the cause.
const scenario = (fault: string, extra = ''): string => `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: kinds }
registry: { auth: { type: token, users: [{ username: ci, password: pw }] } }
pullSecrets: [{ name: regcred, username: ci, password: pw }]
images: [{ ref: demo/app:v1, synth: { layers: [300kB] } }]
faults: [${fault}]
cluster: { nodes: 1, layerStore: inflate-only }
rollouts:
  - { name: app, deployment: { image: demo/app:v1, replicas: 1, imagePullSecrets: [regcred] }, timeout: 40s }
${extra}`;

const runOne = async (fault: string) => {
  const { results } = await runScenario(parseScenario(scenario(fault), 'kinds.yaml'), { writeOutputs: false });
  const arm = results.arms[0]!;
  const rep = arm.repetitions[0]!;
  return { arm, rep, pod: rep.pods[0]! };
};

describe('faults on a timeline, through an emulated cluster', { timeout: 90_000 }, () => {
  it.each([
    ['503', 'serverError'],
    ['500', 'serverError'],
    ['429', 'rateLimited'],
    ['401', 'auth'],
    ['404', 'notFound'],
    ['reset', 'resetOrRefused'],
    ['refuse', 'resetOrRefused'],
    ['credentials-expire', 'auth'],
  ])('kind %s: the attempt inside the window fails as %s, the retry after it succeeds', async (kind, cause) => {
    const { arm, rep, pod } = await runOne(`{ target: registry, at: 0s, for: 2s, kind: ${kind} }`);
    expect(pod.outcome).toBe('ready');
    expect(pod.pullFailures?.map((f) => f.cause)).toEqual([cause]);
    const [window] = rep.faults!.windows;
    expect(pod.pullFailures![0]!.at).toBeGreaterThanOrEqual(window!.startedAt);
    expect(pod.pullFailures![0]!.at).toBeLessThanOrEqual(window!.endedAt);
    // kubelet's first back-off (10 s) separates the two attempts; the retry starts after the window.
    const [first, second] = pod.pullAttempts!;
    expect(second! - first!).toBeGreaterThanOrEqual(9_900);
    expect(second!).toBeGreaterThan(window!.endedAt);
    expect(arm.aggregate.failures.byCause?.[cause]).toBe(1);
    expect(arm.aggregate.recovery?.notRecovered).toBe(0);
    expect(arm.aggregate.recovery?.ms?.mean).toBeGreaterThan(0);
    expect(Object.values(rep.faults!.faulted).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it('kind stall holds the pull until the window ends: slower, not failed', async () => {
    const { rep, pod } = await runOne('{ target: registry, at: 0s, for: 2s, kind: stall }');
    expect(pod.outcome).toBe('ready');
    expect(pod.pullFailures).toEqual([]);
    expect(pod.pulledAt!).toBeGreaterThanOrEqual(rep.faults!.windows[0]!.endedAt);
  });

  it('kind latency delays every request in the window', async () => {
    const { pod } = await runOne('{ target: registry, at: 0s, for: 5s, kind: latency, latency: 300ms }');
    expect(pod.outcome).toBe('ready');
    // A token, a manifest, a config, two layers: at least five requests, each 300 ms later.
    expect(pod.pullMs!).toBeGreaterThanOrEqual(1_500);
  });

  it('a link fault whose window the rollout never reaches changes nothing', async () => {
    const { pod, rep } = await runOne('{ target: link:registry, at: 30s, for: 2s, kind: reset }');
    expect(pod.pullFailures).toEqual([]);
    expect(rep.faults!.faulted).toEqual({});
  });
});

describe('registry.faults (steady) apply to the rollout, not to seeding', { timeout: 60_000 }, () => {
  it('seeds through a 100% error rate and fails every pull with a server error', async () => {
    const text = scenario('', '').replace('faults: []', 'faults: []\n').replace('registry: {', 'registry: { faults: { errorRate: 100% },').replace('timeout: 40s', 'timeout: 3s');
    const { results } = await runScenario(parseScenario(text, 'steady.yaml'), { writeOutputs: false });
    const arm = results.arms[0]!;
    expect(arm.aggregate.failures.byCause?.serverError).toBeGreaterThan(0);
    expect(arm.repetitions[0]!.faults?.faulted.errorRate).toBeGreaterThan(0);
  });
});
