import { resolve } from 'node:path';
import { startShapedProxy, SharedUplink } from '../net/index.js';
import { RegistryClient } from '../oci/client.js';
import { importLayout } from '../oci/layout.js';
import { parsePlatform } from '../oci/platform.js';
import { loadBase, pushSynthImage } from '../oci/synth.js';
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

function registrySpec(scenario: Scenario): RegistrySpec {
  const r = scenario.registry;
  // The model applies the rate limit and faults in virtual time; the registry it reads the images from has neither.
  if (scenario.cluster.driver === 'model') return {};
  return {
    ...(r.auth ? { auth: r.auth.type, users: r.auth.users } : {}),
    ...(r.rateLimit ? { rateLimit: { manifestGets: r.rateLimit.manifestGets, windowMs: r.rateLimit.window } } : {}),
    // registry.faults are the fault stage's, on the rollout's pulls only: seeding meets none (src/run/fault-stage.ts).
  };
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

/** Stage `registry`: the scenario's registry, started (embedded, container) or reached (external). */
export async function registryStage(scenario: Scenario): Promise<StartedRegistry> {
  const r = scenario.registry;
  return (await providerFor(r.provider, r.image, r.url, containerNetwork(scenario, 'registry'))).start(registrySpec(scenario));
}

/** Stage `seed`: pushes every image of the scenario; each image's bytes (manifest + config + layers of one platform), by scenario ref. */
export async function seedStage(loaded: LoadedScenario, registry: StartedRegistry): Promise<Map<string, number>> {
  const { scenario } = loaded;
  const user = scenario.registry.auth?.users[0];
  await using client = new RegistryClient({ baseUrl: registry.url, ...(user ? { credentials: user } : {}) });
  const sizes = new Map<string, number>();
  for (const image of scenario.images) {
    const { repo, tag } = splitRef(image.ref);
    // An absent image is declared only to be rolled out and fail (404).
    if (image.absent) continue;
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

/** A mirror arm's pull-through mirror, and the shaped upstream link it reaches the registry over. */
export interface StartedMirror extends AsyncDisposable {
  readonly mirror: StartedRegistry;
}

export interface MirrorStageInput {
  scenario: Scenario;
  registry: StartedRegistry;
  /** Where the mirror reaches the registry when not registry.host (the fault stage's front). */
  upstream?: string;
  real?: RealRun;
}

/** Stage `mirror` (mirror arms): a fresh mirror in front of the registry, reaching it over the upstream link if one is declared. */
export async function mirrorStage({ scenario, registry, upstream, real }: MirrorStageInput): Promise<StartedMirror> {
  const owned = new Owned();
  try {
    let upstreamUrl = upstream ? `http://${upstream}` : registry.url;
    if (scenario.links.upstream) {
      const l = scenario.links.upstream;
      const proxy = await startShapedProxy({
        target: upstream ?? registry.host,
        link: { bandwidthBps: l.bandwidth, latencyMs: l.latency, ...(l.jitter ? { jitterMs: l.jitter } : {}) },
        ...(l.sharedUplink ? { uplink: new SharedUplink(l.sharedUplink) } : {}),
      });
      owned.add({ [Symbol.asyncDispose]: () => proxy.close() });
      upstreamUrl = proxy.url;
    }
    const spec = scenario.mirror!;
    const user = scenario.registry.auth?.users[0];
    const provider = await providerFor(spec.provider, spec.image, undefined, containerNetwork(scenario, 'mirror'));
    const mirror = owned.add(
      await provider.start({
        ...(spec.provider === 'embedded' ? { storage: 'memory' as const } : {}),
        upstream: { url: real?.registryNetworkUrl ?? upstreamUrl, ...(user ? { credentials: user } : {}) },
      }),
    );
    return { mirror, [Symbol.asyncDispose]: () => owned[Symbol.asyncDispose]() };
  } catch (err) {
    await owned[Symbol.asyncDispose]();
    throw err;
  }
}
