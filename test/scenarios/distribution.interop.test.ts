import { expect, it } from 'vitest';
import { runScenario } from '../../src/run/run.js';
import { parseScenario } from '../../src/scenario/load.js';
import { describeWithTools } from '../helpers/interop.js';

describeWithTools(['docker-registry'], 'pullbench run with Debian docker-registry (distribution) as the pull-through mirror', () => {
  it('pulls through the distribution mirror (which, unlike the embedded one, does not coalesce concurrent blob fetches)', async () => {
    const loaded = parseScenario(
      `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: distribution }
mirror: { provider: distribution }
images:
  - { ref: demo/app:v1, synth: { layers: [300kB, 100kB] } }
cluster: { nodes: 3 }
rollouts:
  - { name: app, daemonSet: { image: demo/app:v1 } }
matrix: { topology: [direct, mirror] }
`,
      'distribution.yaml',
    );
    const { results } = await runScenario(loaded, { writeOutputs: false });
    const direct = results.arms.find((a) => a.arm.topology === 'direct')!;
    const mirror = results.arms.find((a) => a.arm.topology === 'mirror')!;
    expect(results.environment.mirror).toMatch(/distribution/);
    expect(direct.aggregate.failures.total).toBe(0);
    expect(mirror.aggregate.failures.total).toBe(0);
    expect(direct.aggregate.requests.registryBlobGet).toBe(12); // 3 nodes x (config + 2 layers + the /pause entrypoint layer)
    // distribution 2.8's proxy can go upstream again for concurrent misses of one blob, so more than once per blob;
    // the embedded mirror fetches each blob exactly once (test/scenarios/proofs.test.ts).
    expect(mirror.aggregate.requests.registryBlobGet).toBeGreaterThanOrEqual(3);
    expect(mirror.repetitions[0]!.pods.every((p) => p.pullMs !== undefined)).toBe(true);
  });
});
