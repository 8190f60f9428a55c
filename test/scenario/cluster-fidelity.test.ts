import { describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { parseScenario, type ScenarioProblem } from '../../src/scenario/load.js';

const BASE = `apiVersion: pullbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: t }\nimages:\n  - ref: demo/app:v1\n    synth: { layers: [1MB] }\nrollouts:\n  - name: app\n    deployment: { image: demo/app:v1, replicas: 2 }\n`;
const withCluster = (cluster: string): string => `${BASE}cluster: ${cluster}\n`;

function problems(text: string): { code: string; paths: string[] } {
  try {
    parseScenario(text, 's.yaml');
  } catch (err) {
    if (!isPullbenchError(err)) throw err;
    const list = (err.details.problems ?? []) as ScenarioProblem[];
    return { code: err.code, paths: list.map((p) => p.path) };
  }
  return { code: 'none', paths: [] };
}

describe('the emulated cluster as a scenario sets it', () => {
  it('times pulls with the disk store unless told otherwise, and leaves the versions to their defaults', () => {
    const { scenario } = parseScenario(BASE, 's.yaml');
    expect(scenario.cluster.layerStore).toBe('disk');
    expect(scenario.cluster.kubernetesVersion).toBeUndefined();
    expect(scenario.cluster.containerdVersion).toBeUndefined();
  });

  it('takes the cheaper store and the versions by name', () => {
    const { scenario } = parseScenario(withCluster('{ layerStore: inflate-only, kubernetesVersion: "1.32", containerdVersion: "2.0" }'), 's.yaml');
    expect(scenario.cluster).toMatchObject({ layerStore: 'inflate-only', kubernetesVersion: '1.32', containerdVersion: '2.0' });
  });

  it('refuses settings that the chosen nodes cannot honour, naming each', () => {
    expect(problems(withCluster('{ runtime: containerd, layerStore: inflate-only, containerdVersion: "2.1" }'))).toEqual({
      code: 'SCENARIO_INVALID',
      paths: ['cluster.layerStore', 'cluster.containerdVersion'],
    });
    expect(problems(withCluster('{ kubernetesVersion: "1.32", kubelet: { ensureSecretPulledImages: true } }'))).toEqual({
      code: 'SCENARIO_INVALID',
      paths: ['cluster.kubelet.ensureSecretPulledImages'],
    });
    expect(problems(withCluster('{ kubernetesVersion: "1.30" }')).code).toBe('SCENARIO_INVALID');
  });

  it('leaves unset kubelet fields to kubelet\'s defaulting, and refuses what kubelet would refuse at start-up', () => {
    const { scenario } = parseScenario(withCluster('{ kubelet: { maxParallelImagePulls: 4 } }'), 's.yaml');
    expect(scenario.cluster.kubelet).toEqual({ maxParallelImagePulls: 4, ensureSecretPulledImages: false });
    expect(problems(withCluster('{ kubelet: { serializeImagePulls: true, maxParallelImagePulls: 4 } }'))).toEqual({
      code: 'SCENARIO_INVALID',
      paths: ['cluster.kubelet.maxParallelImagePulls'],
    });
  });
});
