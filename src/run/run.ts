import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { scaleScenario } from './byte-scale.js';
import { EmulatedCluster } from '../cluster/drivers/emulated/driver.js';
import { UsageSampler } from '../measure/usage.js';
import { PullbenchError } from '../errors.js';
import { renderHtmlReport } from '../report/html/index.js';
import { buildTimelines } from '../measure/timeline.js';
import { startShapedProxy, SharedUplink, type StartedProxy } from '../net/index.js';
import { realClock } from '../core/clock.js';
import { RegistryClient } from '../oci/client.js';
import { importLayout } from '../oci/layout.js';
import { parsePlatform } from '../oci/platform.js';
import { loadBase, pushSynthImage } from '../oci/synth.js';
import { embeddedRegistry, registryProvider, type RegistryProvider, type RegistrySpec, type StartedRegistry } from '../registry/provider.js';
import { runRollouts } from '../rollout/engine.js';
import { redactScenario, redactValues, type LoadedScenario } from '../scenario/load.js';
import { expandArms, type Arm } from '../scenario/matrix.js';
import type { Scenario } from '../scenario/schema.js';
import { registerCleanup } from '../util/cleanup.js';
import { containerNetwork, prepareNetwork, startRealRun, type RealRun, type RunCluster } from './real-cluster.js';
import { environmentInfo } from '../util/environment.js';
import { renderJunit } from '../report/render.js';
import { compareResults } from '../compare/index.js';
import { aggregateArm, evaluateThresholds, failureRateGate, RESULTS_SCHEMA_VERSION, type ArmResult, type Comparison, type Repetition, type RunResults, type SupplyChainResult } from '../results/index.js';
import { formatBytes } from '../util/units.js';
import { LoadStage } from './load-stage.js';
import { BUILTIN_CALIBRATION, loadCalibration } from '../model/calibration.js';
import { readCatalog } from '../model/catalog.js';
import { runModelRepetition, VIRTUAL_EPOCH, type ModelContext } from '../model/repetition.js';
import { admission, deniedPods, prepareSigner, rolloutImageRefs, signSeeded, verifyStage, type Admission } from './verify-stage.js';

export interface RunOptions {
  /** Progress lines (which arm, pods ready); the command decides whether to show them. */
  onProgress?(message: string): void;
  /** Write outputs (default true); tests may skip. */
  writeOutputs?: boolean;
  /** Override outputs.dir. */
  outputDir?: string;
  /** Earlier results: compared with this run once, the comparison shown in the HTML report and returned. */
  baseline?: RunResults;
  /** The baseline's file, recorded in the comparison. */
  baselineFile?: string;
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

const NAMESPACE = 'pullbench';

/** Splits `demo/app:v1` into repository and tag. */
function splitRef(ref: string): { repo: string; tag: string } {
  const i = ref.lastIndexOf(':');
  return { repo: ref.slice(0, i), tag: ref.slice(i + 1) };
}

function registrySpec(scenario: Scenario): RegistrySpec {
  const r = scenario.registry;
  // The model applies the rate limit and faults in virtual time; the registry it reads the images from has neither.
  if (scenario.cluster.driver === 'model') return {};
  return {
    ...(r.auth ? { auth: r.auth.type, users: r.auth.users } : {}),
    ...(r.rateLimit ? { rateLimit: { manifestGets: r.rateLimit.manifestGets, windowMs: r.rateLimit.window } } : {}),
    ...(r.faults ? { faults: { errorRate: r.faults.errorRate, latencyMs: r.faults.latency } } : {}),
  };
}

async function startRegistry(scenario: Scenario): Promise<StartedRegistry> {
  const r = scenario.registry;
  return (await providerFor(r.provider, r.image, r.url, containerNetwork(scenario, 'registry'))).start(registrySpec(scenario));
}

// `container` runs registry:2 (or `image`) through testcontainers, loaded only when asked for; it needs a Docker daemon.
// With kind or k3s it joins the cluster's Docker network under an alias the nodes use.
async function providerFor(name: string, image?: string, url?: string, network?: { name: string; aliases: string[] }): Promise<RegistryProvider> {
  if (name === 'container') {
    const { containerRegistry } = await import('../registry/providers/container.js');
    return containerRegistry({ ...(image ? { image } : {}), ...(network ? { network } : {}) });
  }
  return name === 'embedded' ? embeddedRegistry : registryProvider(name, url);
}

/** Pushes every image of the scenario; returns each image's bytes (manifest + config + layers of one platform). */
async function seedImages(loaded: LoadedScenario, registry: StartedRegistry): Promise<Map<string, number>> {
  const { scenario } = loaded;
  const user = scenario.registry.auth?.users[0];
  await using client = new RegistryClient({ baseUrl: registry.url, ...(user ? { credentials: user } : {}) });
  const sizes = new Map<string, number>();
  for (const image of scenario.images) {
    const { repo, tag } = splitRef(image.ref);
    if (image.import) {
      await importLayout(resolve(loaded.dir, image.import), client, repo, tag);
      sizes.set(image.ref, 0);
      continue;
    }
    const synth = image.synth!;
    const base = image.from ? await loadBase(client, splitRef(image.from).repo, splitRef(image.from).tag) : undefined;
    const pushed = await pushSynthImage(client, repo, tag, {
      layers: synth.layers,
      platforms: synth.platforms.map(parsePlatform),
      compression: synth.compression,
      seed: image.ref,
      ...(base ? { base } : {}),
    });
    const first = pushed.images[0]!;
    sizes.set(image.ref, first.manifest.size + first.config.size + first.layers.reduce((a, l) => a + l.size, 0));
  }
  return sizes;
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
  const progress = options.onProgress ?? (() => undefined);
  const startedAt = new Date();
  const owned: AsyncDisposable[] = [];
  const unregister = registerCleanup('pullbench run', async () => {
    for (const d of owned.splice(0).reverse()) await Promise.resolve(d[Symbol.asyncDispose]()).catch(() => undefined);
  });
  try {
    // Owned first, so disposed last: after the cluster and the registry containers on the network.
    owned.push(await prepareNetwork(scenario));
    const registry = await startRegistry(scenario);
    owned.push(registry);
    // One real cluster for the whole run (kind is created once), a namespace of its own per repetition; before seeding, to fail fast.
    const real = scenario.cluster.driver === 'emulated' || scenario.cluster.driver === 'model' ? undefined : await startRealRun(scenario, registry);
    if (real) {
      owned.push(real);
      progress(`cluster ${scenario.cluster.driver} ready`);
    }
    progress(`registry ${registry.version()} at ${registry.url}; seeding ${scenario.images.length} image(s)`);
    const sizes = await seedImages(loaded, registry);
    // The supply-chain stages: sign what the scenario says, then admit or deny each rollout image.
    const signer = await prepareSigner(loaded);
    if (signer) {
      owned.push(signer);
      await signSeeded(scenario, registry, signer);
    }
    let supplyChain: SupplyChainResult | undefined;
    let admitted: Admission | undefined;
    if (scenario.verify) {
      supplyChain = await verifyStage(loaded, registry, signer);
      admitted = admission(scenario, supplyChain);
      progress(`verify: ${supplyChain.images.map((i) => `${i.image} ${i.admitted ? i.decision : 'denied'}`).join(', ')}`);
    }
    // The model driver: nodes in virtual time over flows, sized by what was just seeded (docs/model.md).
    let model: ModelContext | undefined;
    if (scenario.cluster.driver === 'model') {
      const calibration = scenario.cluster.calibration ? await loadCalibration(resolve(loaded.dir, scenario.cluster.calibration)) : BUILTIN_CALIBRATION;
      const catalog = await readCatalog(registry, scenario.images.map((i) => i.ref));
      model = { scenario, catalog, calibration, images: rolloutImageRefs(scenario.rollouts), namespace: NAMESPACE, onProgress: progress };
    }
    const arms = expandArms(scenario);
    const armResults: ArmResult[] = [];
    const clusterVersions: Record<string, string> = {};
    let mirrorVersion: string | undefined;
    for (const arm of arms) {
      const repetitions: Repetition[] = [];
      for (let rep = 0; rep < scenario.repeat; rep++) {
        progress(`arm ${arm.name} (${rep + 1}/${scenario.repeat})`);
        // A rate limit's window would carry over from one arm to the next (and from the verify stage's
        // manifest GETs to the first): give each repetition a fresh registry.
        let repRegistry = registry;
        if (!model && scenario.registry.rateLimit && (arm !== arms[0] || rep > 0 || scenario.verify)) {
          repRegistry = await startRegistry(scenario);
          await seedImages(loaded, repRegistry);
          if (signer) await signSeeded(scenario, repRegistry, signer);
        }
        try {
          const r = model ? await runModelRepetition(model, arm, rep) : await runRepetition(loaded, arm, rep, repRegistry, progress, real, (v, mv) => {
            Object.assign(clusterVersions, v);
            mirrorVersion ??= mv;
          }, admitted);
          repetitions.push(r);
        } finally {
          if (repRegistry !== registry) await repRegistry[Symbol.asyncDispose]();
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
        // A modelled run's times are virtual, so that the same scenario gives the same file.
        startedAt: model ? new Date(VIRTUAL_EPOCH).toISOString() : startedAt.toISOString(),
        finishedAt: model ? new Date(VIRTUAL_EPOCH + armResults.flatMap((a) => a.repetitions).reduce((n, r) => n + r.rolloutDurationMs, 0)).toISOString() : new Date().toISOString(),
        environment: { ...environmentInfo(), registry: registry.version(), ...(mirrorVersion ? { mirror: mirrorVersion } : {}), cluster: { driver: scenario.cluster.driver, ...clusterVersions } },
        arms: armResults,
        thresholds,
        gate,
        ...(scenario.scale && scenario.scale.bytes !== 1 ? { scale: { bytes: scenario.scale.bytes, byteCounts: 'measured' as const } } : {}),
        ...(supplyChain ? { supplyChain } : {}),
        ...(model ? { model: { clock: 'virtual' as const, network: 'max-min fair flows' as const, calibration: model.calibration } } : {}),
        passed: gate.passed && thresholds.every((t) => t.passed),
      },
      [...loaded.secretValues, ...(scenario.registry.auth?.users.map((u) => u.password) ?? []), ...scenario.pullSecrets.map((p) => p.password)],
    );
    const comparison = options.baseline && compareResults(options.baseline, results, options.baselineFile ? { files: { baseline: options.baselineFile } } : {});
    const baseline = options.baseline && comparison ? { results: options.baseline, comparison } : undefined;
    const files = options.writeOutputs === false ? [] : await writeOutputs(results, scenario, options.outputDir, baseline);
    return { results, files, notes: [], ...(comparison ? { comparison } : {}) };
  } finally {
    for (const d of owned.splice(0).reverse()) await d[Symbol.asyncDispose]();
    unregister();
  }
}

// Pod images are `<registry host>/<scenario ref>`; sizes are keyed by scenario ref.
function imageKey(image: string): string {
  return image.slice(image.indexOf('/') + 1);
}

async function runRepetition(
  loaded: LoadedScenario,
  arm: Arm,
  index: number,
  registry: StartedRegistry,
  progress: (m: string) => void,
  real: RealRun | undefined,
  versions: (cluster: Record<string, string>, mirror?: string) => void,
  admitted?: Admission,
): Promise<Repetition> {
  const { scenario } = loaded;
  const owned: AsyncDisposable[] = [];
  try {
    let mirror: StartedRegistry | undefined;
    if (arm.topology === 'mirror') {
      // The mirror reaches the registry over the upstream link, if one is declared.
      let upstreamUrl = registry.url;
      if (scenario.links.upstream) {
        const l = scenario.links.upstream;
        const proxy: StartedProxy = await startShapedProxy({
          target: registry.host,
          link: { bandwidthBps: l.bandwidth, latencyMs: l.latency, ...(l.jitter ? { jitterMs: l.jitter } : {}) },
          ...(l.sharedUplink ? { uplink: new SharedUplink(l.sharedUplink) } : {}),
        });
        owned.push({ [Symbol.asyncDispose]: () => proxy.close() });
        upstreamUrl = proxy.url;
      }
      const user = scenario.registry.auth?.users[0];
      const provider = await providerFor(scenario.mirror!.provider, scenario.mirror!.image, undefined, containerNetwork(scenario, 'mirror'));
      mirror = await provider.start({
        ...(scenario.mirror!.provider === 'embedded' ? { storage: 'memory' as const } : {}),
        upstream: { url: real?.registryNetworkUrl ?? upstreamUrl, ...(user ? { credentials: user } : {}) },
        ...(scenario.mirror!.faults ? { faults: { errorRate: scenario.mirror!.faults.errorRate, latencyMs: scenario.mirror!.faults.latency } } : {}),
      });
      owned.push(mirror);
    }
    const realCluster = real ? await real.open(arm, index) : undefined;
    // Emulated nodes live in this process: sample it, from a baseline before the nodes start.
    const sampler = realCluster ? undefined : UsageSampler.start();
    if (sampler) owned.push(sampler);
    const cluster: RunCluster = realCluster ?? (await EmulatedCluster.start({
      nodes: scenario.cluster.nodes,
      runtime: scenario.cluster.runtime,
      layerStore: scenario.cluster.layerStore,
      ...(scenario.cluster.kubernetesVersion ? { kubernetesVersion: scenario.cluster.kubernetesVersion } : {}),
      ...(scenario.cluster.containerdVersion ? { containerdVersion: scenario.cluster.containerdVersion } : {}),
      kubelet: scenario.cluster.kubelet,
      clock: realClock,
      registryHost: registry.host,
      registry: { target: registry.host, ...(scenario.links.registry && arm.topology !== 'pre-pulled' ? { link: scenario.links.registry } : {}) },
      ...(mirror ? { mirror: { target: mirror.host, ...(scenario.links.mirror ? { link: scenario.links.mirror } : {}) } } : {}),
      pullSecrets: new Map(scenario.pullSecrets.map((p) => [p.name, { username: p.username, password: p.password }])),
      namePrefix: 'node',
    }));
    owned.push(cluster);
    versions(cluster.versions(), mirror?.version());
    // Real nodes name the registry (or the mirror route) as they reach it on their network.
    const imageHost = real?.imageHost(arm.topology) ?? registry.host;
    const images = rolloutImageRefs(admitted?.rollouts ?? scenario.rollouts).map((ref) => `${imageHost}/${ref}`);

    let cacheVerified: boolean | undefined;
    if (arm.cache === 'warm') {
      progress(`  warming ${cluster.nodes.length} node(s) with ${images.length} image(s)`);
      await cluster.prepull(images, scenario.registry.auth?.users[0]);
      const missing: string[] = [];
      for (const node of cluster.nodes) {
        const present = new Set(await cluster.nodeImages(node));
        for (const image of images) if (!present.has(image)) missing.push(`${node}: ${image}`);
      }
      if (missing.length > 0) {
        throw new PullbenchError('RUN_INVALID', `arm ${arm.name} claims a warm cache but images are missing: ${missing.slice(0, 5).join(', ')}`, { details: { missing } });
      }
      cacheVerified = true;
    }
    if (realCluster && arm.cache === 'cold') {
      progress(`  emptying the image cache on ${cluster.nodes.length} node(s)`);
      await realCluster.makeCold(images);
      cacheVerified = true;
    }
    // Registries counted from their log (docker-registry) answer before they log: their counts wait for the log.
    const statsCaughtUp = async (): Promise<void> => {
      await Promise.all([registry.statsCaughtUp?.(), mirror?.statsCaughtUp?.()]);
    };
    // The load: stage finds its images before the stats reset, so the counts below are the rollout's and the storms'.
    const storms = await LoadStage.prepare(scenario, { registry, ...(mirror ? { mirror } : {}) }, admitted?.rollouts ?? scenario.rollouts);
    if (storms) owned.push(storms);
    // What came before (pre-pulls, the storms' lookups) counted before the reset, not after it.
    await statsCaughtUp();
    registry.resetStats();
    mirror?.resetStats();
    const linkBefore = cluster.linkBytes();

    let lastKey = '';
    let lastAt = 0;
    if (storms) {
      progress(`  load: ${storms.describe()}`);
      await storms.start();
    }
    const t0 = Date.now();
    sampler?.begin();
    const steps = await runRollouts(admitted?.rollouts ?? scenario.rollouts, {
      cluster,
      clock: realClock,
      namespace: NAMESPACE,
      pullPolicy: arm.pullPolicy,
      imageRef: (ref) => `${imageHost}/${ref}`,
      onProgress: (step, ready, total) => {
        // One line when readiness changes, else at most every 2 s with the bytes moving.
        const now = Date.now();
        const key = `${step}:${ready}/${total}`;
        if (key === lastKey && now - lastAt < 2000) return;
        lastKey = key;
        lastAt = now;
        const moved = cluster.linkBytes();
        const bytes = moved.registry + moved.mirror - linkBefore.registry - linkBefore.mirror;
        progress(`  ${step}: ${ready}/${total} ready, ${formatBytes(bytes)} over the links`);
      },
    });
    const rolloutDurationMs = Date.now() - t0;
    const usage = sampler?.stop(cluster.nodes.length, { loadStorms: storms?.size ?? 0 });
    const load = await storms?.stop();
    realCluster?.assertEnoughData();
    const linkAfter = cluster.linkBytes();
    // Registries counted from their log: every response of the rollout and the storms counted before the read.
    await statsCaughtUp();
    const pods = [...buildTimelines(cluster.events(), cluster.observations()), ...(admitted ? deniedPods(admitted, imageHost, t0) : [])];
    return {
      index,
      startedAt: t0,
      rolloutDurationMs,
      steps: steps.map((s) => ({ name: s.name, durationMs: s.durationMs, completed: s.completed, timedOut: s.timedOut, ...(s.failedFast ? { failedFast: s.failedFast } : {}) })),
      pods,
      registry: registry.stats(),
      ...(mirror ? { mirror: mirror.stats() } : {}),
      linkBytes: { registry: linkAfter.registry - linkBefore.registry, mirror: linkAfter.mirror - linkBefore.mirror },
      ...(cacheVerified !== undefined ? { cacheVerified } : {}),
      ...(usage ? { usage } : {}),
      ...(load ? { load } : {}),
    };
  } finally {
    for (const d of owned.reverse()) await d[Symbol.asyncDispose]();
  }
}

async function writeOutputs(results: RunResults, scenario: Scenario, override?: string, baseline?: { results: RunResults; comparison: Comparison }): Promise<string[]> {
  const dir = resolve(override ?? scenario.outputs.dir ?? join('reports', scenario.metadata.name));
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  if (scenario.outputs.formats.includes('json')) {
    const f = join(dir, 'results.json');
    await writeFile(f, `${JSON.stringify(results, null, 2)}\n`);
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
