import { describe, it } from 'vitest';
import { runScenario } from '../../src/run/run.js';
import { loadScenario } from '../../src/scenario/load.js';
import { checkRegistryOutage } from './outage-checks.js';

describe('scenarios/registry-outage.yaml, scaled to 4 nodes and a 15 s outage', { timeout: 240_000 }, () => {
  it('direct: pods retry on kubelet\'s back-off and recover after the outage; mirror: no pod fails; the typo fails as expected', async () => {
    const loaded = await loadScenario('scenarios/registry-outage.yaml', {
      set: ['cluster.nodes=4', 'rollouts[0].deployment.replicas=4', 'faults[0].for=15s', 'cluster.layerStore=inflate-only', 'rollouts[2].timeout=20s'],
    });
    const { results } = await runScenario(loaded, { writeOutputs: false });
    checkRegistryOutage(results, 15_000);
  });
});
