import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { runScenario } from '../../src/run/run.js';
import { parseScenario } from '../../src/scenario/load.js';
import { isPullbenchError } from '../../src/errors.js';
import { startFakeApiServer } from './fake-apiserver.js';

const dir = mkdtempSync(join(tmpdir(), 'pb-run-kube-'));
let registry: StartedRegistry;
beforeAll(async () => {
  registry = await embeddedRegistry.start({});
});
afterAll(async () => {
  await registry[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
});

const node = (name: string, labels: Record<string, string> = {}) => ({
  metadata: { name, labels },
  status: { nodeInfo: { containerRuntimeVersion: 'containerd://1.7.18', kubeletVersion: 'v1.31.0' }, images: [] as Array<{ names: string[]; sizeBytes: number }> },
});

function scenario(kubeconfig: string, extra = ''): string {
  return [
    'apiVersion: pullbench.dev/v1alpha1',
    'kind: Scenario',
    'metadata: { name: kube-run }',
    `registry: { provider: external, url: "${registry.url}" }`,
    'images:',
    '  - ref: bench/app:v1',
    '    synth: { layers: [64KB] }',
    'cluster:',
    '  driver: kubeconfig',
    `  kubeconfig: ${kubeconfig}`,
    '  context: fake',
    '  namespacePrefix: pbtest',
    '  command: [sleep, "3600"]',
    'rollouts:',
    '  - name: app',
    '    daemonSet: { image: bench/app:v1 }',
    '    timeout: 3s',
    'matrix: { pullPolicy: [Always], cache: [cold, warm] }',
    extra,
  ].join('\n');
}

describe('pullbench run with driver kubeconfig (fake API server seam)', () => {
  it('runs cold and warm arms through KubeCluster and measures the kubelet events with the one parser', async () => {
    await using api = await startFakeApiServer({
      nodes: [node('cp', { 'node-role.kubernetes.io/control-plane': '' }), node('w1'), node('w2')],
      gitVersion: 'v1.31.0',
      pulledMessage: (image) => `Successfully pulled image "${image}" in 1.5s (2.25s including waiting). Image size: 65536 bytes.`,
    });
    const path = join(dir, 'ok');
    writeFileSync(path, api.kubeconfig);
    const { results } = await runScenario(parseScenario(scenario(path), join(dir, 'scenario.yaml')), { writeOutputs: false });

    expect(results.environment.cluster).toEqual({
      driver: 'kubeconfig', kubernetes: 'v1.31.0', containerRuntime: 'containerd://1.7.18', kubelet: 'v1.31.0', kubernetesVersion: '1.31', containerdVersion: '1.7',
    });
    expect(results.arms.map((a) => a.arm.name)).toEqual(['Always/direct/cold', 'Always/direct/warm']);
    for (const arm of results.arms) {
      const [rep] = arm.repetitions;
      expect(rep?.cacheVerified).toBe(true);
      expect(rep?.pods).toHaveLength(2);
      // Measured from the Pulled messages the fake kubelet wrote, not from the warming pods.
      expect(rep?.pods.map((p) => [p.node, p.outcome, p.pullMs, p.pullSource])).toEqual(
        expect.arrayContaining([
          ['w1', 'ready', 1500, 'message'],
          ['w2', 'ready', 1500, 'message'],
        ]),
      );
    }
    expect(results.passed).toBe(true);
    // The cold arm ran the crictl-rmi DaemonSet; every namespace pullbench made is gone.
    expect(api.deletedDaemonSets).toEqual(['pullbench-cold-cache']);
    expect(api.requests.filter((r) => r === 'POST /api/v1/namespaces')).toHaveLength(2);
    expect([...api.namespaces.keys()]).toEqual([]);
  }, 60_000);

  it('marks the run invalid (RUN_INVALID) when pods have no pull data, and still removes its namespace', async () => {
    await using api = await startFakeApiServer({
      nodes: [node('w1'), node('w2')],
      gitVersion: 'v1.31.0',
      // A kubelet whose events never arrive: pods stay Pending without a reason.
      kubelet: () => [],
    });
    const path = join(dir, 'silent');
    writeFileSync(path, api.kubeconfig);
    const loaded = parseScenario(scenario(path).replace('cache: [cold, warm]', 'cache: [cold]'), join(dir, 'scenario.yaml'));
    const err: unknown = await runScenario(loaded, { writeOutputs: false }).then(() => undefined, (e: unknown) => e);
    expect(isPullbenchError(err) && err.code).toBe('RUN_INVALID');
    expect([...api.namespaces.keys()]).toEqual([]);
  });
});
