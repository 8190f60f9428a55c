import { describe, expect, it } from 'vitest';
import { runScenario } from '../../src/run/run.js';
import { loadScenario } from '../../src/scenario/load.js';

describe('scenarios/rollout-under-storm.yaml', { timeout: 120_000 }, () => {
  it('runs both arms under both storms (scaled to 3 nodes), and the registry counts the storms beside the rollout', async () => {
    const loaded = await loadScenario('scenarios/rollout-under-storm.yaml', {
      set: ['cluster.nodes=3', 'repeat=1', 'rollouts[0].deployment.replicas=6', 'images[1].synth.layers=[2MB]', 'load[1].connections=2', 'load[0].connections=5', 'load[0].rate=100'],
    });
    const { results } = await runScenario(loaded, { writeOutputs: false });
    expect(results.passed).toBe(true);
    for (const arm of results.arms) {
      expect(arm.aggregate.failures.total).toBe(0);
      expect(arm.aggregate.load!.map((s) => [s.storm, s.profile, s.target])).toEqual([
        ['warm-fleet', 'manifest-head', 'registry'],
        ['cold-fleet', 'blob-get', 'registry'],
      ]);
      const rep = arm.repetitions[0]!;
      const [heads, blobs] = rep.load!.map((l) => l.result);
      expect(heads!.requests.total).toBeGreaterThan(20);
      expect(blobs!.requests.total).toBeGreaterThan(5);
      expect(heads!.errors + blobs!.errors).toBe(0);
      // The steady storm keeps to its rate (100/s here): autocannon hands out each second's
      // allowance at the start of that second, so a run can finish up to one second's worth ahead.
      expect(heads!.requests.total).toBeLessThanOrEqual(100 * (Math.ceil(heads!.durationSeconds) + 1));
      expect(rep.registry.manifestHead).toBeGreaterThanOrEqual(heads!.byKind.manifestHead!.requests);
      expect(rep.registry.blobGet).toBeGreaterThanOrEqual(blobs!.byKind.blobGet!.requests);
    }
  });
});
