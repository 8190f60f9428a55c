import { expect, it } from 'vitest';
import { runScenario } from '../../src/run/run.js';
import { loadScenario } from '../../src/scenario/load.js';
import { describeWithTools } from '../helpers/interop.js';

describeWithTools(['containerd'], 'scenarios/containerd-nodes.yaml on real containerd nodes', () => {
  it('rolls v1 -> v2 on cold nodes, and the warm arm (checked through CRI ListImages) pulls no blobs', async () => {
    const loaded = await loadScenario('scenarios/containerd-nodes.yaml', { set: ['rollouts[0].deployment.replicas=2'] });
    const { results } = await runScenario(loaded, { writeOutputs: false });
    const cold = results.arms.find((a) => a.arm.cache === 'cold')!;
    const warm = results.arms.find((a) => a.arm.cache === 'warm')!;
    expect(cold.aggregate.failures.total).toBe(0);
    expect(cold.repetitions[0]!.steps.map((s) => s.completed)).toEqual([true, true]);
    expect(cold.aggregate.pull!.count).toBeGreaterThan(0);
    expect(warm.repetitions[0]!.cacheVerified).toBe(true);
    expect(warm.aggregate.requests.registryBlobGet).toBe(0);
    expect(warm.aggregate.alreadyPresent).toBe(warm.aggregate.pods);
    expect(results.environment.cluster.containerd).toMatch(/\d+\.\d+/);
  });
});
