import { resolve } from 'node:path';
import { startShapedProxy, SharedUplink } from '../net/index.js';
import { RegistryClient } from '../oci/client.js';
import { importLayout } from '../oci/layout.js';
import { parsePlatform } from '../oci/platform.js';
import { loadBase, pushSynthImage } from '../oci/synth.js';
import { PullbenchError } from '../errors.js';
import { registryOfImage, scenarioRegistries, type FleetRegistry } from '../scenario/fleet.js';
import { embeddedRegistry, registryProvider, type RegistryProvider, type RegistrySpec, type StartedRegistry } from '../registry/provider.js';
import type { LoadedScenario } from '../scenario/load.js';
import type { Scenario } from '../scenario/schema.js';
import { Owned } from './context.js';
import { containerNetwork, type RealRun } from './real-cluster.js';

/** Splits `demo/app:v1` into repository and tag. */
function splitRef(ref: string): { repo: string; tag: string } {
  const i = ref.lastIndexOf(':');
  return { repo: ref.slice(0, i), tag: ref.slice(i + 1) };
}

function registrySpec(scenario: Scenario, r: FleetRegistry): RegistrySpec {
  // The model applies the rate limit and faults in virtual time; the registry it reads the images from has neither.
  if (scenario.cluster.driver === 'model') return {};
  return {
    ...(r.auth ? { auth: r.auth.type, users: r.auth.users } : {}),
    ...(r.rateLimit ? { rateLimit: { manifestGets: r.rateLimit.manifestGets, windowMs: r.rateLimit.window } } : {}),
    // A registry's faults are the fault stage's, on the rollout's pulls only: seeding meets none (src/run/fault-stage.ts).
  };
}

/** One of the run's registries: the scenario's entry and the registry started (or reached) for it. */
export interface RunRegistry {
  readonly spec: FleetRegistry;
  readonly registry: StartedRegistry;
}

/**
 * The run's registries, by name, in the scenario's order; the first is where images without `registry:` live.
 * Pods name an image by its registry's host: `<host>/<ref>`.
 */
export class RunRegistries implements AsyncDisposable {
  constructor(
    readonly list: readonly RunRegistry[],
    private readonly scenario: Scenario,
    /** The registries this value started, disposed with it (a fresh set under a rate limit shares the others). */
    private readonly owned: readonly StartedRegistry[] = list.map((r) => r.registry),
  ) {}

  /** The first registry: the one-registry form's, and where seeding without `registry:` goes. */
  get primary(): StartedRegistry {
    return this.list[0]!.registry;
  }

  byName(name: string): RunRegistry {
    const found = this.list.find((r) => r.spec.name === name);
    if (!found) throw new PullbenchError('INTERNAL', `no registry named ${name}`);
    return found;
  }

  /** The registry a scenario image is seeded into and pulled from. */
  of(ref: string): RunRegistry {
    return this.byName(registryOfImage(this.scenario, ref).name);
  }

  /** A scenario image as pods name it: `<its registry's host>/<ref>`. */
  imageRef(ref: string): string {
    return `${this.of(ref).registry.host}/${ref}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const r of [...this.owned].reverse()) await r[Symbol.asyncDispose]();
  }
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

/** Stage `registry`: the scenario's registries, started (embedded, container) or reached (external), in order. */
export async function registryStage(scenario: Scenario): Promise<RunRegistries> {
  return startRegistries(scenario, () => true);
}

/**
 * A repetition's registries under a rate limit: a rate limit's window would carry over from one arm to the next
 * (and from the verify stage's manifest GETs to the first), so each rate-limited registry is started afresh and
 * seeded (and signed); the others are shared with `base`. Disposing it stops only the fresh ones.
 */
export async function freshRateLimited(loaded: LoadedScenario, base: RunRegistries, sign?: (registries: RunRegistries) => Promise<void>): Promise<RunRegistries> {
  const fresh = await startRegistries(loaded.scenario, (r) => r.rateLimit !== undefined);
  const list = base.list.map((r) => fresh.list.find((f) => f.spec.name === r.spec.name) ?? r);
  const registries = new RunRegistries(list, loaded.scenario, fresh.list.map((r) => r.registry));
  try {
    await seedStage(loaded, registries, new Set(fresh.list.map((r) => r.spec.name)));
    await sign?.(registries);
  } catch (err) {
    await registries[Symbol.asyncDispose]();
    throw err;
  }
  return registries;
}

async function startRegistries(scenario: Scenario, which: (r: FleetRegistry) => boolean): Promise<RunRegistries> {
  const started: RunRegistry[] = [];
  try {
    for (const spec of scenarioRegistries(scenario).filter(which)) {
      const provider = await providerFor(spec.provider, spec.image, spec.url, containerNetwork(scenario, 'registry'));
      started.push({ spec, registry: await provider.start(registrySpec(scenario, spec)) });
    }
  } catch (err) {
    for (const r of started.reverse()) await Promise.resolve(r.registry[Symbol.asyncDispose]()).catch(() => undefined);
    throw err;
  }
  return new RunRegistries(started, scenario);
}

/** A client of a run registry, as its first user when it has auth. */
export function clientOf(r: RunRegistry): RegistryClient {
  const user = r.spec.auth?.users[0];
  return new RegistryClient({ baseUrl: r.registry.url, ...(user ? { credentials: user } : {}) });
}

/**
 * Stage `seed`: pushes every image of the scenario into its registry (of the named registries only, with `only`);
 * each image's bytes (manifest + config + layers of one platform), by scenario ref.
 */
export async function seedStage(loaded: LoadedScenario, registries: RunRegistries, only?: ReadonlySet<string>): Promise<Map<string, number>> {
  const { scenario } = loaded;
  const sizes = new Map<string, number>();
  for (const target of registries.list) {
    if (only && !only.has(target.spec.name)) continue;
    await using client = clientOf(target);
    for (const image of scenario.images) {
      // An absent image is declared only to be rolled out and fail (404).
      if (image.absent || registries.of(image.ref) !== target) continue;
      sizes.set(image.ref, await seedImage(loaded, client, image));
    }
  }
  return sizes;
}

async function seedImage(loaded: LoadedScenario, client: RegistryClient, image: Scenario['images'][number]): Promise<number> {
  const { repo, tag } = splitRef(image.ref);
  if (image.import) {
    await importLayout(resolve(loaded.dir, image.import), client, repo, tag);
    return 0;
  }
  const synth = image.synth!;
  // A base image is in the same registry (the schema checks): its layers are read back from there.
  const base = image.from ? await loadBase(client, splitRef(image.from).repo, splitRef(image.from).tag) : undefined;
  const pushed = await pushSynthImage(client, repo, tag, {
    layers: synth.layers,
    platforms: synth.platforms.map(parsePlatform),
    compression: synth.compression,
    seed: image.ref,
    ...(base ? { base } : {}),
  });
  const first = pushed.images[0]!;
  return first.manifest.size + first.config.size + first.layers.reduce((a, l) => a + l.size, 0);
}

/** A mirror arm's pull-through mirrors, one per registry that has one, and the shaped upstream links they reach them over. */
export interface StartedMirrors extends AsyncDisposable {
  /** By registry name. */
  readonly byRegistry: ReadonlyMap<string, StartedRegistry>;
}

export interface MirrorStageInput {
  scenario: Scenario;
  registries: RunRegistries;
  /** Where a mirror reaches its registry when not the registry's host (the fault stage's fronts), by registry name. */
  upstreams?: ReadonlyMap<string, string>;
  real?: RealRun;
}

/** Stage `mirror` (mirror arms): a fresh mirror in front of each registry that declares one, over its upstream link if it has one. */
export async function mirrorStage({ scenario, registries, upstreams, real }: MirrorStageInput): Promise<StartedMirrors> {
  const owned = new Owned();
  const byRegistry = new Map<string, StartedRegistry>();
  try {
    for (const { spec: r, registry } of registries.list) {
      if (!r.mirror) continue;
      const upstream = upstreams?.get(r.name);
      let upstreamUrl = upstream ? `http://${upstream}` : registry.url;
      const l = r.links.upstream;
      if (l) {
        const proxy = await startShapedProxy({
          target: upstream ?? registry.host,
          link: { bandwidthBps: l.bandwidth, latencyMs: l.latency, ...(l.jitter ? { jitterMs: l.jitter } : {}) },
          ...(l.sharedUplink ? { uplink: new SharedUplink(l.sharedUplink) } : {}),
        });
        owned.add({ [Symbol.asyncDispose]: () => proxy.close() });
        upstreamUrl = proxy.url;
      }
      const spec = r.mirror;
      const user = r.auth?.users[0];
      const provider = await providerFor(spec.provider, spec.image, undefined, containerNetwork(scenario, 'mirror'));
      const mirror = owned.add(
        await provider.start({
          ...(spec.provider === 'embedded' ? { storage: 'memory' as const } : {}),
          upstream: { url: real?.registryNetworkUrl ?? upstreamUrl, ...(user ? { credentials: user } : {}) },
        }),
      );
      byRegistry.set(r.name, mirror);
    }
    return { byRegistry, [Symbol.asyncDispose]: () => owned[Symbol.asyncDispose]() };
  } catch (err) {
    await owned[Symbol.asyncDispose]();
    throw err;
  }
}
