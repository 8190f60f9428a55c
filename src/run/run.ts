import { writeJsonFile } from '../util/json-stream.js';
import type { RunEventSink } from '../core/progress.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { compareResults } from '../compare/index.js';
import { PullbenchError } from '../errors.js';
import { BUILTIN_CALIBRATION, loadCalibration } from '../model/calibration.js';
import { readCatalog } from '../model/catalog.js';
import { runModelRepetition, VIRTUAL_EPOCH, type ModelContext } from '../model/repetition.js';
import { renderHtmlReport } from '../report/html/index.js';
import { renderJunit } from '../report/render.js';
import { aggregateArm, evaluateThresholds, failureRateGate, RESULTS_SCHEMA_VERSION, type ArmResult, type Comparison, type Repetition, type RunResults, type SupplyChainResult } from '../results/index.js';
import { redactScenario, redactValues, type LoadedScenario } from '../scenario/load.js';
import { expandArms } from '../scenario/matrix.js';
import type { Scenario } from '../scenario/schema.js';
import { registerCleanup } from '../util/cleanup.js';
import { environmentInfo } from '../util/environment.js';
import { recordConditions } from '../measure/conditions.js';
import { scaleScenario } from './byte-scale.js';
import { assertMemoryFits, estimateMemory, machineLimits } from './memory.js';
import type { RunContext } from './context.js';
import { NAMESPACE } from './measure-stage.js';
import { prepareNetwork, startRealRun } from './real-cluster.js';
import { freshRateLimited, registryStage, seedStage } from './registry-stage.js';
import { p2pOptions } from './cluster-stage.js';
import { runRepetition } from './repetition.js';
import { admission, prepareSigner, rolloutImageRefs, signSeeded, verifyStage, type Admission } from './verify-stage.js';

export interface RunOptions {
  /** Progress lines (which arm, pods ready); the command decides whether to show them. */
  onProgress?: RunEventSink;
  /** Write outputs (default true); tests may skip. */
  writeOutputs?: boolean;
  /** Override outputs.dir. */
  outputDir?: string;
  /** Earlier results: compared with this run once, the comparison shown in the HTML report and returned. */
  baseline?: RunResults;
  /** The baseline's file, recorded in the comparison. */
  baselineFile?: string;
  /**
   * Aborted (the command passes Ctrl-C's): the stage under way stops (the cluster's start, the rollout, a modelled
   * repetition) and the run throws the signal's reason; what it started is disposed on the way out.
   */
  signal?: AbortSignal;
  /** Run even when the memory estimate says the run does not fit this machine. */
  ignoreMemoryEstimate?: boolean;
}

export interface RunOutcome {
  results: RunResults;
  /** Files written. */
  files: string[];
  /** Things the user should know (formats not written yet). */
  notes: string[];
  /** Against options.baseline, when given. */
  comparison?: Comparison;
}

/**
 * `pullbench run`: start the registry (and a mirror per arm that needs one),
 * seed the images, run every arm `repeat` times on a fresh (cold) or
 * deliberately warmed cluster, measure from the events, and tear it all down.
 */
export async function runScenario(given: LoadedScenario, options: RunOptions = {}): Promise<RunOutcome> {
  // scale.bytes: the run sees smaller layers over proportionally slower links; the results keep the spec as written.
  const loaded: LoadedScenario = { ...given, scenario: scaleScenario(given.scenario) };
  const { scenario } = loaded;
  // The scenario schema refuses pools for model, k3s and kubeconfig and several registries for every driver but
  // emulated; pools also run on kind (its workers labelled by pool), the list form of registries on emulated only.
  if (scenario.registries && scenario.cluster.driver !== 'emulated') {
    throw new PullbenchError('INVALID_ARGUMENT', `registries run with driver emulated only; driver ${scenario.cluster.driver} cannot run them yet: use the one-registry form (registry:, mirror:)`);
  }
  if (scenario.cluster.pools && scenario.cluster.driver !== 'emulated' && scenario.cluster.driver !== 'kind') {
    throw new PullbenchError('INVALID_ARGUMENT', `cluster.pools run with drivers emulated and kind; driver ${scenario.cluster.driver} cannot run them: use cluster.nodes`);
  }
  // Before anything starts: a run that cannot fit is refused in a second, not after minutes of growing.
  if (!options.ignoreMemoryEstimate) assertMemoryFits(estimateMemory(scenario), machineLimits());
  const progress = options.onProgress ?? (() => undefined);
  const startedAt = new Date();
  const conditions = recordConditions();
  const owned: AsyncDisposable[] = [];
  const { signal } = options;
  // Its parts (servers, temp dirs, processes, networks) are registered on their own, with their fallbacks.
  const unregister = registerCleanup('pullbench run', async () => {
    for (const d of owned.splice(0).reverse()) await Promise.resolve(d[Symbol.asyncDispose]()).catch(() => undefined);
  }, { endsWithProcess: true });
  try {
    // Owned first, so disposed last: after the cluster and the registry containers on the network.
    owned.push(await prepareNetwork(scenario));
    const registries = await registryStage(scenario);
    owned.push(registries);
    const registry = registries.primary;
    // One real cluster for the whole run (kind is created once), a namespace of its own per repetition; before seeding, to fail fast.
    const real = scenario.cluster.driver === 'emulated' || scenario.cluster.driver === 'model' ? undefined : await startRealRun(scenario, registry);
    if (real) {
      owned.push(real);
      progress({ type: 'cluster-ready', driver: scenario.cluster.driver });
    }
    progress({ type: 'seeding', registry: registry.version(), url: registry.url, images: scenario.images.length });
    const sizes = await seedStage(loaded, registries);
    signal?.throwIfAborted();
    // The supply-chain stages: sign what the scenario says, then admit or deny each rollout image.
    const signer = await prepareSigner(loaded);
    if (signer) {
      owned.push(signer);
      await signSeeded(scenario, registries, signer);
    }
    let supplyChain: SupplyChainResult | undefined;
    let admitted: Admission | undefined;
    if (scenario.verify) {
      supplyChain = await verifyStage(loaded, registries, signer);
      admitted = admission(scenario, supplyChain);
      progress({ type: 'verified', images: supplyChain.images.map((i) => ({ image: i.image, decision: i.admitted ? i.decision : 'denied' })) });
    }
    const ctx: RunContext = { loaded, scenario, progress, ...(real ? { real } : {}), ...(signer ? { signer } : {}), ...(admitted ? { admitted } : {}), ...(signal ? { signal } : {}) };
    // The model driver: nodes in virtual time over flows, sized by what was just seeded (docs/model.md).
    let model: ModelContext | undefined;
    if (scenario.cluster.driver === 'model') {
      const calibration = scenario.cluster.calibration ? await loadCalibration(resolve(loaded.dir, scenario.cluster.calibration)) : BUILTIN_CALIBRATION;
      const catalog = await readCatalog(registry, scenario.images.map((i) => i.ref));
      model = {
        scenario,
        catalog,
        calibration,
        images: rolloutImageRefs(scenario.rollouts),
        namespace: NAMESPACE,
        p2pOptions: (mode) => p2pOptions(scenario, mode),
        onProgress: progress,
        ...(signal ? { signal } : {}),
      };
    }
    const arms = expandArms(scenario);
    const armResults: ArmResult[] = [];
    const clusterVersions: Record<string, string> = {};
    let mirrorVersion: string | undefined;
    for (const arm of arms) {
      const repetitions: Repetition[] = [];
      for (let rep = 0; rep < scenario.repeat; rep++) {
        signal?.throwIfAborted();
        progress({ type: 'arm', arm: arm.name, repetition: rep + 1, repetitions: scenario.repeat });
        // A rate limit's window would carry over from one arm to the next (and from the verify stage's
        // manifest GETs to the first): give each repetition a fresh registry.
        let repRegistries = registries;
        if (!model && registries.list.some((r) => r.spec.rateLimit) && (arm !== arms[0] || rep > 0 || scenario.verify)) {
          repRegistries = await freshRateLimited(loaded, registries, signer && ((fresh) => signSeeded(scenario, fresh, signer)));
        }
        try {
          if (model) repetitions.push(await runModelRepetition(model, arm, rep));
          else {
            const { repetition, versions } = await runRepetition(ctx, { arm, index: rep, registries: repRegistries });
            Object.assign(clusterVersions, versions.cluster);
            mirrorVersion ??= versions.mirror;
            repetitions.push(repetition);
          }
        } finally {
          if (repRegistries !== registries) await repRegistries[Symbol.asyncDispose]();
        }
      }
      armResults.push({ arm, repetitions, aggregate: aggregateArm(repetitions, (image) => sizes.get(imageKey(image)) ?? 0) });
    }
    const thresholds = evaluateThresholds(scenario, armResults);
    const gate = failureRateGate(scenario, armResults);
    const results: RunResults = redactValues(
      {
        schemaVersion: RESULTS_SCHEMA_VERSION,
        kind: 'pullbench.results',
        scenario: { name: scenario.metadata.name, file: loaded.file, spec: redactScenario(given) },
        // A modelled run's times are virtual and it records no machine conditions (its figures do not depend on
        // the machine), so that the same scenario gives the same file.
        startedAt: model ? new Date(VIRTUAL_EPOCH).toISOString() : startedAt.toISOString(),
        finishedAt: model ? new Date(VIRTUAL_EPOCH + armResults.flatMap((a) => a.repetitions).reduce((n, r) => n + r.rolloutDurationMs, 0)).toISOString() : new Date().toISOString(),
        environment: { ...environmentInfo(), registry: registry.version(), ...(mirrorVersion ? { mirror: mirrorVersion } : {}), cluster: { driver: scenario.cluster.driver, ...clusterVersions }, ...(model ? {} : { conditions: conditions.stop() }) },
        arms: armResults,
        thresholds,
        gate,
        ...(scenario.scale && scenario.scale.bytes !== 1 ? { scale: { bytes: scenario.scale.bytes, byteCounts: 'measured' as const } } : {}),
        ...(supplyChain ? { supplyChain } : {}),
        ...(model ? { model: { clock: 'virtual' as const, network: 'max-min fair flows' as const, calibration: model.calibration } } : {}),
        passed: gate.passed && thresholds.every((t) => t.passed),
      },
      [...loaded.secretValues, ...registries.list.flatMap((r) => r.spec.auth?.users.map((u) => u.password) ?? []), ...scenario.pullSecrets.map((p) => p.password)],
    );
    const comparison = options.baseline && compareResults(options.baseline, results, options.baselineFile ? { files: { baseline: options.baselineFile } } : {});
    const baseline = options.baseline && comparison ? { results: options.baseline, comparison } : undefined;
    const files = options.writeOutputs === false ? [] : await writeOutputs(results, scenario, options.outputDir, baseline);
    return { results, files, notes: [], ...(comparison ? { comparison } : {}) };
  } finally {
    conditions.stop();
    for (const d of owned.splice(0).reverse()) await d[Symbol.asyncDispose]();
    unregister();
  }
}

// Pod images are `<registry host>/<scenario ref>`; sizes are keyed by scenario ref.
function imageKey(image: string): string {
  return image.slice(image.indexOf('/') + 1);
}

async function writeOutputs(results: RunResults, scenario: Scenario, override?: string, baseline?: { results: RunResults; comparison: Comparison }): Promise<string[]> {
  const dir = resolve(override ?? scenario.outputs.dir ?? join('reports', scenario.metadata.name));
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  if (scenario.outputs.formats.includes('json')) {
    const f = join(dir, 'results.json');
    // Streamed: a modelled run of tens of thousands of nodes writes hundreds of MB (src/util/json-stream.ts).
    await writeJsonFile(f, results);
    files.push(f);
  }
  if (scenario.outputs.formats.includes('junit')) {
    const f = join(dir, 'junit.xml');
    await writeFile(f, renderJunit(results));
    files.push(f);
  }
  if (scenario.outputs.formats.includes('html')) {
    const f = join(dir, 'report.html');
    await writeFile(f, await renderHtmlReport(results, baseline ? { baseline } : {}));
    files.push(f);
  }
  return files;
}
