import { threadId } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { emulationWorkers, RuntimeWorkers } from '../../src/node/runtimes/worker-runtimes.js';
import { isPullbenchError } from '../../src/errors.js';
import { runScenario } from '../../src/run/run.js';
import { loadScenario } from '../../src/scenario/load.js';

describe('how many worker threads carry the embedded runtimes', () => {
  it('by default none below 100 nodes, from 100 nodes one per core up to 4, and one per 250 nodes up to 8', () => {
    expect(emulationWorkers({}, 10, 2)).toBe(0);
    expect(emulationWorkers({ PULLBENCH_EMULATION_WORKERS: '' }, 99, 2)).toBe(0);
    expect(emulationWorkers({}, 100, 2)).toBe(2);
    expect(emulationWorkers({}, 100, 1)).toBe(1);
    expect(emulationWorkers({}, 500, 2)).toBe(2);
    expect(emulationWorkers({}, 750, 2)).toBe(3);
    expect(emulationWorkers({}, 1000, 2)).toBe(4);
    expect(emulationWorkers({}, 1000, 16)).toBe(4);
    expect(emulationWorkers({}, 5000, 16)).toBe(8);
  });

  it('as many as PULLBENCH_EMULATION_WORKERS says, whatever the node count', () => {
    expect(emulationWorkers({ PULLBENCH_EMULATION_WORKERS: '2' }, 5, 2)).toBe(2);
    expect(emulationWorkers({ PULLBENCH_EMULATION_WORKERS: '0' }, 1000, 2)).toBe(0);
  });

  it('refuses a value that is not a whole number', () => {
    let code: string | undefined;
    try {
      emulationWorkers({ PULLBENCH_EMULATION_WORKERS: 'two' });
    } catch (err) {
      if (isPullbenchError(err)) code = err.code;
    }
    expect(code).toBe('INVALID_ARGUMENT');
  });
});

describe('when the nodes\' runtimes run in worker threads', () => {
  const saved = process.env.PULLBENCH_EMULATION_WORKERS;
  afterEach(() => {
    vi.restoreAllMocks();
    if (saved === undefined) delete process.env.PULLBENCH_EMULATION_WORKERS;
    else process.env.PULLBENCH_EMULATION_WORKERS = saved;
  });

  it('pulls with the pod\'s credentials, and a pull error reaches kubelet as on the main thread', async () => {
    process.env.PULLBENCH_EMULATION_WORKERS = '2';
    const started = vi.spyOn(RuntimeWorkers.prototype, 'start');
    const env = { ...process.env, PULLBENCH_REGISTRY_PASSWORD: 's3cret-for-tests' };
    const loaded = await loadScenario('scenarios/private-registry.yaml', { env, set: ['cluster.nodes=3', 'rollouts[0].deployment.replicas=3', 'rollouts[1].timeout=3s'] });
    const { results } = await runScenario(loaded, { writeOutputs: false });
    const rep = results.arms[0]!.repetitions[0]!;
    const app = rep.pods.filter((p) => p.rollout === 'app');
    expect(app).toHaveLength(3);
    expect(app.every((p) => p.outcome === 'ready' && p.pullMs !== undefined)).toBe(true);
    const intruder = rep.pods.find((p) => p.rollout === 'intruder')!;
    expect(intruder.outcome).toBe('failed');
    expect(['ErrImagePull', 'ImagePullBackOff']).toContain(intruder.failureReason);
    expect(rep.registry.blobGet).toBeGreaterThan(0);
    expect(results.gate.passed).toBe(true);
    expect(JSON.stringify(results)).not.toContain('s3cret-for-tests');
    // Every node's runtime was started in a worker: the thread hosting it is not this one, and two workers share the three.
    const runtimes = await Promise.all(started.mock.results.map((r) => r.value as ReturnType<RuntimeWorkers['start']>));
    expect(runtimes).toHaveLength(3);
    const hosts = runtimes.map((rt) => (rt as { threadId?: number }).threadId);
    expect(hosts.every((id) => typeof id === 'number' && id !== threadId)).toBe(true);
    expect(new Set(hosts).size).toBe(2);
  }, 60_000);
});
