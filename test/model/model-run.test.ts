import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { incomparability } from '../../src/compare/index.js';
import { loadCalibration, BUILTIN_CALIBRATION } from '../../src/model/calibration.js';
import { renderSummary } from '../../src/report/render.js';
import { runScenario } from '../../src/run/run.js';
import { loadScenario } from '../../src/scenario/load.js';

const env = { ...process.env, PULLBENCH_REGISTRY_PASSWORD: 's3cret-for-tests' };
const modelled = async (name: string, set: string[] = []) =>
  (await runScenario(await loadScenario(`scenarios/${name}.yaml`, { env, set: ['cluster.driver=model', ...set] }), { writeOutputs: false })).results;
const byArm = (r: Awaited<ReturnType<typeof modelled>>) => Object.fromEntries(r.arms.map((a) => [a.arm.name, a.aggregate]));

describe('the model driver', () => {
  it('gives byte-identical results.json for the same scenario twice', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pullbench-model-'));
    try {
      const files: string[] = [];
      for (const out of ['a', 'b']) {
        const loaded = await loadScenario('scenarios/scale-10k-model.yaml', { env, set: ['cluster.nodes=40'] });
        await runScenario(loaded, { outputDir: join(dir, out) });
        files.push(await readFile(join(dir, out, 'results.json'), 'utf8'));
      }
      expect(files[0]).toBe(files[1]);
      const results = JSON.parse(files[0]!) as Awaited<ReturnType<typeof modelled>>;
      expect(results.model?.clock).toBe('virtual');
      expect(results.model?.calibration.registry).toEqual(BUILTIN_CALIBRATION.registry);
      expect(results.environment.cluster.driver).toBe('model');
      const agg = results.arms[0]!.aggregate;
      expect(agg.pods).toBe(400);
      expect(agg.failures.total).toBe(0);
      expect(agg.pull!.count).toBe(400);
      // Marked as modelled wherever a reader meets it: the HTML report's banner, the summary, and compare.
      const html = await readFile(join(dir, 'a', 'report.html'), 'utf8');
      expect(html).toMatch(/id="model-note"[^>]*>Modelled run, not a measurement/);
      expect(html).toContain(BUILTIN_CALIBRATION.measuredAt);
      expect(renderSummary(results).split('\n')[0]).toMatch(/^Modelled run/);
      const live = { ...structuredClone(results), environment: { ...results.environment, cluster: { ...results.environment.cluster, driver: 'emulated' } } };
      delete live.model;
      const [reason] = incomparability(live, results);
      expect(reason).toMatch(/baseline is live \(driver emulated\), the current run is modelled/);
      expect(incomparability(results, structuredClone(results))).toEqual([]);
      const recalibrated = structuredClone(results);
      recalibrated.model!.calibration.registry.serviceMs *= 2;
      expect(incomparability(results, recalibrated)).toEqual([expect.stringMatching(/different calibrations/)]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('measures a modelled run from kubelet events: pull times, policies and the mirror (quickstart)', async () => {
    const r = await modelled('quickstart', ['cluster.nodes=3', 'repeat=1', 'rollouts[0].deployment.replicas=6']);
    const arms = byArm(r);
    for (const arm of r.arms) {
      expect(arm.aggregate.failures.total).toBe(0);
      expect(arm.repetitions[0]!.steps.map((s) => s.completed)).toEqual([true, true]);
    }
    // Three nodes, two versions: IfNotPresent pulls once per node and version, Always on every pod.
    expect(arms['IfNotPresent/direct/cold']!.requests.registryManifestHead).toBeLessThan(arms['Always/direct/cold']!.requests.registryManifestHead);
    // The mirror fetches each blob from the registry once, however many nodes want it.
    const mirror = r.arms.find((a) => a.arm.name === 'IfNotPresent/mirror/cold')!.repetitions[0]!;
    expect(mirror.mirror!.upstreamBlobGet).toBeLessThan(mirror.mirror!.blobGet);
    expect(mirror.registry.blobGet).toBe(mirror.mirror!.upstreamBlobGet);
    expect(arms['IfNotPresent/mirror/cold']!.bytes.mirror).toBeGreaterThan(arms['IfNotPresent/mirror/cold']!.bytes.registry);
    const pod = r.arms[0]!.repetitions[0]!.pods[0]!;
    expect(pod.pullSource).toBe('message');
    expect(pod.pullMs).toBeGreaterThan(0);
  });

  it('answers manifest GETs over the limit with 429 and fails those pulls; the mirror absorbs the storm', async () => {
    const r = await modelled('rate-limit-storm', ['cluster.nodes=8', 'registry.rateLimit.manifestGets=5', 'rollouts[0].timeout=3s']);
    const direct = r.arms.find((a) => a.arm.topology === 'direct')!.aggregate;
    const mirror = r.arms.find((a) => a.arm.topology === 'mirror')!.aggregate;
    expect(direct.tooManyRequests).toBeGreaterThan(0);
    expect(direct.failures.total).toBeGreaterThanOrEqual(3);
    expect(mirror.failures.total).toBe(0);
  });

  it('keeps kubelet pull policies: Never on a cold node fails with ErrImageNeverPull, warm IfNotPresent fetches nothing', async () => {
    const r = await modelled('policy-comparison', ['cluster.nodes=2', 'repeat=1', 'rollouts[0].deployment.replicas=2', 'rollouts[0].timeout=3s']);
    const arms = byArm(r);
    expect(arms['Never/direct/cold']!.failures.byReason).toEqual({ ErrImageNeverPull: 2 });
    expect(arms['IfNotPresent/direct/warm']!.requests.registryBlobGet).toBe(0);
    expect(r.arms.find((a) => a.arm.name === 'IfNotPresent/direct/warm')!.repetitions[0]!.cacheVerified).toBe(true);
  });

  it('fails some pulls under injected registry faults and retries them through kubelet back-off', async () => {
    const r = await modelled('scale-10k-model', ['cluster.nodes=20', 'registry.faults.errorRate=20%', 'rollouts[0].timeout=10m']);
    const pods = r.arms[0]!.repetitions[0]!.pods;
    expect(pods.some((p) => p.pullErrors > 0)).toBe(true);
    expect(pods.every((p) => p.outcome === 'ready')).toBe(true);
  });

  it('loads the validation bench scenario live and modelled', async () => {
    await expect(loadScenario('bench/model/validation.yaml', { env })).resolves.toBeDefined();
    const modelledGrid = await loadScenario('bench/model/validation.yaml', { env, set: ['cluster.driver=model', 'cluster.nodes=1000'] });
    expect(modelledGrid.scenario.matrix.topology).toEqual(['direct', 'mirror']);
    const p2pGrid = await loadScenario('bench/model/validation-p2p.yaml', { env, set: ['cluster.driver=model'] });
    expect(p2pGrid.scenario.p2p?.mode).toEqual(['whole-blob', 'pieces']);
    await expect(loadScenario('bench/model/validation-p2p.yaml', { env })).resolves.toBeDefined();
  });

  it('refuses, by name and place, what it does not cover', async () => {
    await expect(loadScenario('scenarios/private-registry.yaml', { env, set: ['cluster.driver=model'] })).rejects.toMatchObject({
      code: 'SCENARIO_INVALID',
      message: expect.stringMatching(/model driver does not cover registry auth/),
    });
    await expect(loadScenario('scenarios/rollout-under-storm.yaml', { env, set: ['cluster.driver=model'] })).rejects.toMatchObject({
      code: 'SCENARIO_INVALID',
      message: expect.stringMatching(/load storms/),
    });
    await expect(loadScenario('scenarios/scale-200.yaml', { env, set: ['cluster.nodes=20000'] })).rejects.toMatchObject({ code: 'SCENARIO_INVALID' });
  });
});

describe('loadCalibration', () => {
  it('reads a calibration file and reports every bad field at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pullbench-cal-'));
    try {
      const good = join(dir, 'good.json');
      await writeFile(good, JSON.stringify(BUILTIN_CALIBRATION));
      await expect(loadCalibration(good)).resolves.toEqual(BUILTIN_CALIBRATION);
      const bad = join(dir, 'bad.json');
      await writeFile(bad, JSON.stringify({ ...BUILTIN_CALIBRATION, registry: { serviceMs: -1, concurrency: 0, egressBytesPerMs: 5 } }));
      const err = await loadCalibration(bad).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', details: { problems: ['registry.serviceMs must be a number >= 0', 'registry.concurrency must be an integer >= 1'] } });
      await expect(loadCalibration(join(dir, 'absent.json'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
