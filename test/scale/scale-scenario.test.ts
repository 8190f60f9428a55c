import { describe, expect, it } from 'vitest';
import { runScenario } from '../../src/run/run.js';
import { loadScenario } from '../../src/scenario/load.js';

// scenarios/scale-200.yaml as shipped, on 10 nodes instead of 200: the same ten steps and the same reporting.
describe('scenarios/scale-200.yaml at 10 nodes', () => {
  it('rolls out all ten images to every node and reports the emulation cost and the byte scaling', async () => {
    const { results } = await runScenario(await loadScenario('scenarios/scale-200.yaml', { set: ['cluster.nodes=10'] }), { writeOutputs: false });
    const arm = results.arms[0]!;
    const rep = arm.repetitions[0]!;
    expect(rep.steps).toHaveLength(10);
    expect(rep.steps.every((s) => s.completed)).toBe(true);
    expect(arm.aggregate.pods).toBe(100);
    expect(arm.aggregate.failures.total).toBe(0);
    // Every node pulled each image once: the base fully, the other nine only their own layer.
    expect(rep.registry.manifestGet).toBe(100);
    expect(results.scale).toEqual({ bytes: 0.1, byteCounts: 'measured' });
    const usage = rep.usage!;
    expect(usage.nodes).toBe(10);
    expect(usage.cpu.totalMs).toBeGreaterThan(0);
    expect(usage.perNode.cpuMs).toBeCloseTo(usage.cpu.totalMs / 10, 5);
    expect(usage.memory.rssPeakBytes).toBeGreaterThanOrEqual(usage.memory.rssBaselineBytes);
    expect(arm.aggregate.usage?.cpuPerNodeMs).toBeCloseTo(usage.perNode.cpuMs, 5);
  }, 120_000);
});
