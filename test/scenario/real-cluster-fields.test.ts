import { describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { parseScenario, type ScenarioProblem } from '../../src/scenario/load.js';

const head = ['apiVersion: pullbench.dev/v1alpha1', 'kind: Scenario', 'metadata: { name: real }', 'images: [{ ref: bench/app:v1, synth: { layers: [1MB] } }]', 'rollouts: [{ name: app, daemonSet: { image: bench/app:v1 } }]'];

function problems(lines: string[]): Array<Pick<ScenarioProblem, 'path' | 'message'>> {
  try {
    parseScenario([...head, ...lines].join('\n'), 'real.yaml');
  } catch (err) {
    if (!isPullbenchError(err) || err.code !== 'SCENARIO_INVALID') throw err;
    return (err.details.problems as ScenarioProblem[]).map(({ path, message }) => ({ path, message }));
  }
  return [];
}
const paths = (lines: string[]) => problems(lines).map((p) => p.path);

describe('cluster fields for real drivers', () => {
  it('accepts a kubeconfig scenario with an external registry, kubeconfig, context, namespace prefix and cold-cache image', () => {
    expect(
      problems([
        'registry: { provider: external, url: "http://10.0.0.5:5000" }',
        'cluster: { driver: kubeconfig, kubeconfig: /tmp/kc, context: prod, namespacePrefix: bench, coldCacheImage: "busybox:1.36" }',
      ]),
    ).toEqual([]);
  });

  it('accepts kind with containers, keep and a node image', () => {
    expect(problems(['registry: { provider: container }', 'cluster: { driver: kind, keep: true, nodeImage: "kindest/node:v1.31.0" }'])).toEqual([]);
  });

  it('names each field that does not belong to the chosen driver', () => {
    expect(paths(['registry: { provider: container }', 'cluster: { driver: kind, kubeconfig: /tmp/kc, context: x }'])).toEqual(['cluster.kubeconfig', 'cluster.context']);
    expect(paths(['registry: { provider: external, url: "http://10.0.0.5:5000" }', 'cluster: { driver: kubeconfig, keep: true, nodeImage: x }'])).toEqual(['cluster.keep', 'cluster.nodeImage']);
    expect(paths(['cluster: { driver: emulated, coldCacheImage: x, namespacePrefix: y, command: [sleep] }'])).toEqual(['cluster.coldCacheImage', 'cluster.command', 'cluster.namespacePrefix']);
    expect(paths(['registry: { provider: container }', 'cluster: { driver: k3s, nodes: 3 }'])).toEqual(['cluster.nodes']);
    expect(paths(['registry: { provider: container }', 'cluster: { driver: kind, runtime: containerd }'])).toEqual(['cluster.runtime']);
  });

  it('says what to change when the nodes could not reach the registry', () => {
    expect(problems(['cluster: { driver: kind }'])).toEqual([{ path: 'registry.provider', message: expect.stringMatching(/set registry.provider: container/) }]);
    expect(paths(['registry: { provider: container }', 'mirror: { provider: embedded }', 'cluster: { driver: k3s, nodes: 1 }'])).toEqual(['mirror.provider']);
    expect(problems(['cluster: { driver: kubeconfig }'])).toEqual([{ path: 'registry.provider', message: expect.stringMatching(/provider external/) }]);
    expect(paths(['registry: { provider: external, url: "http://10.0.0.5:5000" }', 'mirror: {}', 'cluster: { driver: kubeconfig }', 'matrix: { topology: [direct, mirror] }'])).toEqual(['matrix.topology']);
    expect(paths(['registry: { provider: container }', 'cluster: { driver: kind }', 'links: { registry: { bandwidth: 100Mbit } }'])).toEqual(['links.registry']);
  });
});
