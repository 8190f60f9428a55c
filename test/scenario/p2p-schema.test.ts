import { describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { expandArms } from '../../src/scenario/matrix.js';
import { parseScenario } from '../../src/scenario/load.js';

const yaml = (cluster: string, extra = 'p2p: { mode: [whole-blob, pieces] }\nlinks: { peer: { upload: 1Gbit } }') => `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: p2p }
${extra}
images: [{ ref: demo/app:v1, synth: { layers: [1MB] } }]
cluster: ${cluster}
rollouts: [{ name: a, daemonSet: { image: demo/app:v1 } }]
matrix: { topology: [direct, p2p] }
`;

const problems = (text: string): { path: string; message: string }[] => {
  try {
    parseScenario(text, 'p2p.yaml');
  } catch (err) {
    if (isPullbenchError(err, 'SCENARIO_INVALID')) return (err.details as { problems: { path: string; message: string }[] }).problems;
    throw err;
  }
  return [];
};

describe('topology p2p in a scenario', () => {
  it('makes an arm per mode on an emulated cluster, with the upstream defaults', () => {
    const { scenario } = parseScenario(yaml('{ nodes: 3 }'), 'p2p.yaml');
    expect(expandArms(scenario).map((a) => a.name)).toEqual(['IfNotPresent/direct/cold', 'IfNotPresent/p2p-whole-blob/cold', 'IfNotPresent/p2p-pieces/cold']);
    expect(scenario.p2p).toMatchObject({ resolveTags: true, resolveRetries: 3, lookupCacheTtl: 5000, candidateParentLimit: 3, filterParentLimit: 15, backToSourceCount: 200, retryBackToSourceLimit: 4, retryInterval: 500, concurrentPieceCount: 8 });
  });

  it.each([
    ['kind', '{ driver: kind, nodes: 2 }', /cannot deploy them on a kind cluster/],
    ['kubeconfig', '{ driver: kubeconfig }', /cannot deploy them on a kubeconfig cluster/],
  ])('is refused before the run on driver %s, saying why', (_, cluster, why) => {
    const found = problems(yaml(cluster)).filter((p) => p.path === 'matrix.topology');
    expect(found.some((p) => why.test(p.message))).toBe(true);
  });

  it('runs on driver model too, both modes, but not with faults on the agents', () => {
    const { scenario } = parseScenario(yaml('{ driver: model, nodes: 100 }'), 'p2p.yaml');
    expect(expandArms(scenario).map((a) => a.p2p)).toEqual([undefined, 'whole-blob', 'pieces']);
    const found = problems(yaml('{ driver: model, nodes: 100 }', 'p2p: { mode: [pieces], faults: { kill: 10% } }\nlinks: { peer: { upload: 1Gbit } }'));
    expect(found).toEqual([expect.objectContaining({ path: 'p2p.faults', message: expect.stringMatching(/model driver does not cover faults on the P2P agents/) })]);
  });

  it('needs a p2p section and links.peer, and whole-blob needs the disk store', () => {
    expect(problems(yaml('{ nodes: 2 }', '')).map((p) => p.message).join('\n')).toMatch(/needs a p2p section[\s\S]*needs links.peer/);
    expect(problems(yaml('{ nodes: 2, layerStore: inflate-only }')).map((p) => p.path)).toContain('cluster.layerStore');
    expect(problems(yaml('{ nodes: 2 }').replace('topology: [direct, p2p]', 'topology: [direct]')).map((p) => p.path)).toContain('p2p');
  });
});
