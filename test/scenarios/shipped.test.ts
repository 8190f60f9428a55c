import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../src/run/run.js';
import { loadScenario } from '../../src/scenario/load.js';

// Every shipped scenario loads, and each (but containerd-nodes: see its interop test) runs scaled down.
const env = { ...process.env, PULLBENCH_REGISTRY_PASSWORD: 's3cret-for-tests', PULLBENCH_PROXY_PASSWORD: 'proxy-s3cret-for-tests' };
const load = (name: string, set: string[] = []) => loadScenario(`scenarios/${name}.yaml`, { env, set });
// These check what the scenarios show (policies, mirrors, storms), not pull timing: the cheaper inflate-only store
// keeps them quick on a busy machine. The disk store, the default, is timed in test/scenarios/fidelity.interop.test.ts.
const run = async (name: string, set: string[] = []) =>
  (await runScenario(await load(name, ['cluster.layerStore=inflate-only', ...set]), { writeOutputs: false })).results;

describe('the shipped scenarios', () => {
  it.each(readdirSync('scenarios').filter((f) => f.endsWith('.yaml')))('%s loads', async (file) => {
    await expect(loadScenario(`scenarios/${file}`, { env })).resolves.toBeDefined();
  });

  it('quickstart: all four arms, both rollout steps, no failures (scaled to 3 nodes)', async () => {
    const r = await run('quickstart', ['cluster.nodes=3', 'repeat=1', 'rollouts[0].deployment.replicas=6']);
    expect(r.arms.map((a) => a.arm.name)).toHaveLength(4);
    for (const arm of r.arms) {
      expect(arm.aggregate.failures.total).toBe(0);
      expect(arm.repetitions[0]!.steps.map((s) => s.completed)).toEqual([true, true]);
    }
    const byName = Object.fromEntries(r.arms.map((a) => [a.arm.name, a.aggregate]));
    // The mirror arms take their blobs from the mirror; the registry serves each blob once.
    expect(byName['IfNotPresent/mirror/cold']!.bytes.mirror).toBeGreaterThan(byName['IfNotPresent/mirror/cold']!.bytes.registry);
    expect(byName['IfNotPresent/direct/cold']!.bytes.mirror).toBe(0);
    expect(r.passed).toBe(true);
  });

  it('policy-comparison: Never on a cold cluster fails with ErrImageNeverPull, warm IfNotPresent pulls nothing', async () => {
    const r = await run('policy-comparison', ['cluster.nodes=2', 'repeat=1', 'rollouts[0].deployment.replicas=2', 'rollouts[0].timeout=3s', 'images[0].synth.layers=[500kB]']);
    const byName = Object.fromEntries(r.arms.map((a) => [a.arm.name, a.aggregate]));
    expect(byName['Never/direct/cold']!.failures.byReason).toEqual({ ErrImageNeverPull: 2 });
    expect(byName['IfNotPresent/direct/warm']!.requests.registryBlobGet).toBe(0);
    expect(byName['Always/direct/warm']!.requests.registryBlobGet).toBe(0);
    expect(r.thresholds.every((t) => t.passed)).toBe(true);
  });

  it('latest-trap: IfNotPresent never asks the registry about :latest; left to defaulting, only the :latest pods re-resolve', async () => {
    const r = await run('latest-trap', ['cluster.nodes=2', 'rollouts[0].deployment.replicas=2', 'rollouts[1].deployment.replicas=2', 'images[0].synth.layers=[300kB]', 'images[1].synth.layers=[300kB]']);
    const byName = Object.fromEntries(r.arms.map((a) => [a.arm.name, a.aggregate]));
    expect(byName['IfNotPresent/direct/warm']!.requests.registryManifestHead).toBe(0);
    // Always for shop/web:latest (one manifest HEAD per pod, as containerd resolves), IfNotPresent for shop/api:1.4.
    expect(byName['Default/direct/warm']!.requests.registryManifestHead).toBe(2);
    expect(byName['Default/direct/warm']!.requests.registryBlobGet).toBe(0);
    expect(r.passed).toBe(true);
  });

  it('mirror-vs-direct: the mirror arm sends one pull upstream', async () => {
    const r = await run('mirror-vs-direct', ['cluster.nodes=3', 'repeat=1', 'images[0].synth.layers=[1MB]']);
    const mirror = r.arms.find((a) => a.arm.topology === 'mirror')!.aggregate;
    const direct = r.arms.find((a) => a.arm.topology === 'direct')!.aggregate;
    expect(mirror.upstreamPulls).toBe(1);
    expect(direct.upstreamPulls).toBe(3);
    expect(r.passed).toBe(true);
  });

  it('rate-limit-storm: direct Always pulls hit 429 and fail, the mirror absorbs the storm', async () => {
    const r = await run('rate-limit-storm', ['cluster.nodes=8', 'registry.rateLimit.manifestGets=5', 'rollouts[0].timeout=3s']);
    const direct = r.arms.find((a) => a.arm.topology === 'direct')!.aggregate;
    const mirror = r.arms.find((a) => a.arm.topology === 'mirror')!.aggregate;
    expect(direct.tooManyRequests).toBeGreaterThan(0);
    expect(direct.failures.total).toBeGreaterThanOrEqual(3);
    expect(mirror.failures.total).toBe(0);
    expect(r.thresholds.every((t) => t.passed)).toBe(true);
  });

  it('private-registry: pods with the secret start, the one with a wrong secret fails as expected, and results hide the password', async () => {
    const r = await run('private-registry', ['cluster.nodes=2', 'rollouts[0].deployment.replicas=2', 'rollouts[1].timeout=3s']);
    const pods = r.arms[0]!.repetitions[0]!.pods;
    expect(pods.filter((p) => p.rollout === 'app').every((p) => p.outcome === 'ready')).toBe(true);
    const intruder = pods.find((p) => p.rollout === 'intruder')!;
    expect(intruder.outcome).toBe('failed');
    expect(['ErrImagePull', 'ImagePullBackOff']).toContain(intruder.failureReason);
    expect(r.gate.passed).toBe(true);
    expect(JSON.stringify(r)).not.toContain('s3cret-for-tests');
    expect(JSON.stringify(r)).not.toContain('not-the-password');
  });

  it('multi-tenant-cache: with ensureSecretPulledImages a pod without credentials cannot use the cached private image', async () => {
    const on = await run('multi-tenant-cache', ['rollouts[1].timeout=3s']);
    const other = on.arms[0]!.repetitions[0]!.pods.filter((p) => p.rollout === 'other-tenant');
    expect(other.every((p) => p.outcome === 'failed')).toBe(true);
    expect(on.gate.passed).toBe(true);
    // Without KEP-2535 the same pods start from the cache: the scenario's expectation fails.
    const off = await run('multi-tenant-cache', ['rollouts[1].timeout=3s', 'cluster.kubelet.ensureSecretPulledImages=false']);
    const leaked = off.arms[0]!.repetitions[0]!.pods.filter((p) => p.rollout === 'other-tenant');
    expect(leaked.every((p) => p.outcome === 'ready' && p.alreadyPresent)).toBe(true);
    expect(off.gate.passed).toBe(false);
  });

  it('corporate-proxy: the direct arm pulls through the authenticating proxy, the mirror arm reaches its mirror around it', async () => {
    const r = await run('corporate-proxy', ['cluster.nodes=2', 'repeat=1', 'rollouts[0].deployment.replicas=3', 'images[0].synth.layers=[400kB]']);
    const direct = r.arms.find((a) => a.arm.topology === 'direct')!;
    const mirror = r.arms.find((a) => a.arm.topology === 'mirror')!;
    for (const arm of [direct, mirror]) {
      expect(arm.aggregate.failures.total).toBe(0);
      expect(arm.repetitions[0]!.proxy!.authRequired).toBe(0);
    }
    expect(direct.repetitions[0]!.proxy!.byTarget['registry.pullbench.internal:5000']).toBeGreaterThan(0);
    expect(Object.keys(mirror.repetitions[0]!.proxy!.byTarget)).not.toContain('mirror.pullbench.internal:5000');
    expect(mirror.aggregate.requests.mirrorBlobGet).toBeGreaterThan(0);
    expect(JSON.stringify(r)).not.toContain('proxy-s3cret-for-tests');
  });
});
