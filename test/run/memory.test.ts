import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { assertMemoryFits, estimateMemory, machineLimits, podsPerRepetition } from '../../src/run/memory.js';
import { runScenario } from '../../src/run/run.js';
import { parseScenario } from '../../src/scenario/load.js';
import { pendingCleanups } from '../../src/util/cleanup.js';
import { errorCodeOf } from '../helpers/error-code.js';

const yaml = (cluster: string, rollouts: string, extra = ''): string => `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: mem }
images:
  - { ref: demo/app:v1, synth: { layers: [1MB] } }
  - { ref: demo/app:v2, synth: { layers: [1MB] } }
cluster: ${cluster}
rollouts:
${rollouts}
${extra}`;
const scenario = (cluster: string, rollouts: string, extra = '') => parseScenario(yaml(cluster, rollouts, extra), 'mem.yaml').scenario;

describe('the memory estimate', () => {
  it('counts the pods a repetition creates: replicas, a pod per node of a DaemonSet, an update its target again', () => {
    const sc = scenario('{ nodes: 7 }', '  - { name: app, deployment: { image: demo/app:v1, replicas: 40 } }\n  - { name: up, update: { target: app, image: demo/app:v2 } }\n  - { name: agent, daemonSet: { image: demo/app:v1 } }\n');
    expect(podsPerRepetition(sc)).toBe(40 + 40 + 7);
  });

  it('grows with nodes, with pods, and with the arms and repetitions whose records the results keep', () => {
    const small = estimateMemory(scenario('{ nodes: 10 }', '  - { name: app, deployment: { image: demo/app:v1, replicas: 100 } }\n'), {});
    const nodes = estimateMemory(scenario('{ nodes: 1000 }', '  - { name: app, deployment: { image: demo/app:v1, replicas: 100 } }\n'), {});
    const pods = estimateMemory(scenario('{ nodes: 10 }', '  - { name: app, deployment: { image: demo/app:v1, replicas: 100000 } }\n'), {});
    const arms = estimateMemory(scenario('{ nodes: 10 }', '  - { name: app, deployment: { image: demo/app:v1, replicas: 100000 } }\n', 'repeat: 3\nmatrix: { pullPolicy: [Always, IfNotPresent] }'), {});
    expect(nodes.rssBytes).toBeGreaterThan(small.rssBytes);
    expect(pods.heapBytes).toBeGreaterThan(small.heapBytes);
    expect(arms.recordedPods).toBe(100_000 * arms.arms * 3);
    expect(arms.heapBytes).toBeGreaterThan(pods.heapBytes);
  });

  it('costs a modelled node less than an emulated one (no runtime, no sockets)', () => {
    const rollouts = '  - { name: agent, daemonSet: { image: demo/app:v1 } }\n';
    const emulated = estimateMemory(scenario('{ nodes: 5000 }', rollouts), {});
    const model = estimateMemory(scenario('{ driver: model, nodes: 5000 }', rollouts), {});
    expect(model.rssBytes).toBeLessThan(emulated.rssBytes);
  });

  it('refuses a run over the heap limit or the machine, with the estimate and the limit in the details', () => {
    const est = estimateMemory(scenario('{ nodes: 10 }', '  - { name: app, deployment: { image: demo/app:v1, replicas: 100000 } }\n'), {});
    expect(errorCodeOf(() => assertMemoryFits(est, { heapLimitBytes: est.heapBytes - 1, totalMemoryBytes: 1e15 }))).toBe('RESOURCES_EXCEEDED');
    expect(errorCodeOf(() => assertMemoryFits(est, { heapLimitBytes: 1e15, totalMemoryBytes: est.rssBytes - 1 }))).toBe('RESOURCES_EXCEEDED');
    expect(errorCodeOf(() => assertMemoryFits(est, { heapLimitBytes: est.heapBytes, totalMemoryBytes: est.rssBytes }))).toBeUndefined();
    try {
      assertMemoryFits(est, { heapLimitBytes: 1, totalMemoryBytes: 1e15 });
    } catch (err) {
      expect(isPullbenchError(err) && err.details).toMatchObject({ estimate: { heapBytes: est.heapBytes }, limits: { heapLimitBytes: 1 } });
    }
  });

  it('lets the shipped scenarios run on this machine', () => {
    for (const file of ['quickstart', 'scale-200', 'scale-10k-model']) {
      const sc = parseScenario(readScenario(file), `${file}.yaml`).scenario;
      expect(errorCodeOf(() => assertMemoryFits(estimateMemory(sc, {}), machineLimits())), file).toBeUndefined();
    }
  });

  it('stops runScenario before it starts anything', async () => {
    // 5,000 nodes x 150,000 pods x 4 arms x 20 repetitions: far past any heap limit.
    const loaded = parseScenario(yaml('{ nodes: 5000 }', '  - { name: app, deployment: { image: demo/app:v1, replicas: 150000 } }\n', 'repeat: 20\nmatrix: { pullPolicy: [Always, IfNotPresent], cache: [cold, warm] }'), 'mem.yaml');
    await expect(runScenario(loaded, { writeOutputs: false })).rejects.toMatchObject({ code: 'RESOURCES_EXCEEDED' });
    // Nothing was started: no registry, temp dir or cluster waits for a cleanup.
    expect(pendingCleanups()).toEqual([]);
  });

  it('caps replicas in the schema at 150,000 (a whole cluster at Kubernetes\' documented limit)', () => {
    expect(errorCodeOf(() => scenario('{ nodes: 1 }', '  - { name: app, deployment: { image: demo/app:v1, replicas: 150001 } }\n'))).toBe('SCENARIO_INVALID');
    expect(errorCodeOf(() => scenario('{ nodes: 1 }', '  - { name: app, deployment: { image: demo/app:v1, replicas: 150000 } }\n'))).toBeUndefined();
  });
});

function readScenario(name: string): string {
  return readFileSync(new URL(`../../scenarios/${name}.yaml`, import.meta.url), 'utf8');
}
