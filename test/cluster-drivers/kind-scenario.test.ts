import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/scenario/load.js';

describe('scenarios/kind-mirror.yaml', () => {
  it('loads against the scenario schema: kind driver, registry and mirror in containers', async () => {
    const { scenario } = await loadScenario('scenarios/kind-mirror.yaml');
    expect(scenario.cluster.driver).toBe('kind');
    expect(scenario.registry.provider).toBe('container');
    expect(scenario.mirror?.provider).toBe('container');
    expect(scenario.matrix.topology).toEqual(['direct', 'mirror']);
    expect(scenario.matrix.cache).toEqual(['cold', 'warm']);
    expect(scenario.cluster).toMatchObject({ nodeImage: 'kindest/node:v1.31.0', keep: false, coldCacheImage: 'busybox:1.36', namespacePrefix: 'pullbench' });
  });
});
