import { expect, it } from 'vitest';
import { requestShare } from '../../src/load/stage.js';
import { runScenario } from '../../src/run/run.js';
import { parseScenario } from '../../src/scenario/load.js';
import { describeWithTools } from '../helpers/interop.js';

const scenario = (load: string): string => `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: storm-distribution }
registry: { provider: distribution }
images:
  - { ref: demo/app:v1, synth: { layers: [1MB] } }
cluster: { nodes: 2 }
rollouts:
  - { name: app, deployment: { image: demo/app:v1, replicas: 4 } }
matrix: { pullPolicy: [Always] }
${load}`;

describeWithTools(['docker-registry'], 'the load stage against Debian\'s docker-registry (its own process)', () => {
  it('the registry\'s own access log counts the storm\'s requests beside the rollout\'s', async () => {
    const run = async (yaml: string) => (await runScenario(parseScenario(yaml, 'd.yaml'), { writeOutputs: false })).results.arms[0]!;
    const calm = await run(scenario(''));
    const stormy = await run(scenario('load:\n  - { profile: manifest-head, connections: 4, rate: 200 }\n'));
    expect(stormy.aggregate.failures.total).toBe(0);
    const rep = stormy.repetitions[0]!;
    const storm = rep.load![0]!.result;
    expect(storm.byKind.manifestHead!.ok).toBeGreaterThan(100);
    // docker-registry logged every HEAD: the storm's, plus the rollout's (as many as without a storm), plus at most the in-flight ones.
    const rolloutHeads = calm.repetitions[0]!.registry.manifestHead;
    const extra = rep.registry.manifestHead - storm.byKind.manifestHead!.requests - rolloutHeads;
    // Give or take the storm's 4 connections: in flight when it stopped, or logged by
    // docker-registry a few milliseconds after the repetition read its counts.
    expect(extra).toBeGreaterThanOrEqual(-4);
    expect(extra).toBeLessThanOrEqual(4);
    expect(requestShare(stormy.repetitions)!.storms).toBe(storm.requests.total);
  });
});
