import { setTimeout as sleep } from 'node:timers/promises';
import { PullbenchError } from '../errors.js';
import { prepareLoad, type LoadCredentials, type LoadResult, type PreparedLoad } from '../load/index.js';
import type { StormRun } from '../load/stage.js';
import { RegistryClient } from '../oci/client.js';
import { MANIFEST_ACCEPT } from '../oci/media-types.js';
import type { StartedRegistry } from '../registry/provider.js';
import type { LoadSection, RolloutSection, Scenario } from '../scenario/schema.js';
import { stormRegistry } from '../scenario/fleet.js';
import { registerCleanup } from '../util/cleanup.js';
import { rolloutImageRefs } from './verify-stage.js';

/** What a repetition's storms can hit. */
export interface LoadStageTargets {
  registry: StartedRegistry;
  /** The arm's mirror; storms with target mirror are skipped on arms without one. */
  mirror?: StartedRegistry;
  /** With several registries: each one (and the arm's mirror of it) by name, for storms that name their registry. */
  byName?: ReadonlyMap<string, { registry: StartedRegistry; mirror?: StartedRegistry }>;
}

interface PlannedStorm {
  storm: string;
  target: 'registry' | 'mirror';
  image: string;
  startBeforeMs: number;
  /** Undefined: until the rollout ends. */
  durationMs: number | undefined;
  prepared: PreparedLoad;
}

// Every storm is bounded by pullbench load's longest duration; the stage stops it sooner (autocannon's
// own duration is whole seconds, a timer here keeps `duration: 500ms` to 500 ms).
const LONGEST_SECONDS = 3600;

/** The i-th of `n` whole shares of `total`, as even as whole numbers allow (the first `total % n` get one more): they sum to `total`, so some are 0 when total < n. */
export function share(total: number, n: number, i: number): number {
  return Math.floor(total / n) + (i < total % n ? 1 : 0);
}

/**
 * A fetch for a mirror storm's discovery that answers its manifest GETs from the
 * upstream registry (with the scenario user's credentials): resolving through the
 * mirror would cache the manifest there before the arm's cold rollout.
 */
function discoverUpstream(mirrorUrl: string, upstream: RegistryClient): typeof fetch {
  const mirror = new URL(mirrorUrl).origin;
  return async (input, init) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (url.origin !== mirror || !m || (init?.method ?? 'GET') !== 'GET') return fetch(input, init);
    const found = await upstream.getManifest(m[1]!, decodeURIComponent(m[2]!), new Headers(init?.headers).get('accept') ?? MANIFEST_ACCEPT);
    return new Response(new Uint8Array(found.bytes), { status: 200, headers: { 'content-type': found.mediaType, 'docker-content-digest': found.descriptor.digest } });
  };
}

function credentialsFor(scenario: Scenario, l: LoadSection): LoadCredentials | undefined {
  const users = stormRegistry(scenario, l)?.auth?.users ?? [];
  const user = l.user === undefined ? users[0] : users.find((u) => u.username === l.user);
  return user ? { username: user.username, password: user.password } : undefined;
}

/**
 * The scenario's `load:` stage for one repetition: storms (pullbench load)
 * against the registry or the arm's mirror, started before the rollout and
 * stopped when it ends. Prepare before resetting registry stats (discovery
 * sends a few requests), start right before the rollout, stop right after.
 * Disposing stops every storm (also on Ctrl-C, through the cleanup registry).
 */
export class LoadStage implements AsyncDisposable {
  private readonly abort = new AbortController();
  private runs: Array<Promise<LoadResult>> = [];
  private readonly unregister: () => void;

  private constructor(private readonly storms: PlannedStorm[]) {
    this.unregister = registerCleanup('load stage', () => this[Symbol.asyncDispose](), { endsWithProcess: true });
  }

  /** Resolves every storm's image (a mirror storm's on the upstream registry); undefined when the scenario has no storm for this arm. */
  static async prepare(scenario: Scenario, targets: LoadStageTargets, rollouts: RolloutSection[] = scenario.rollouts): Promise<LoadStage | undefined> {
    const planned: PlannedStorm[] = [];
    const sections = scenario.load ?? [];
    const upstreams: RegistryClient[] = [];
    try {
      for (const [i, l] of sections.entries()) {
        // A storm naming a registry hits that one (or the arm's mirror of it); else the first.
        const named = l.registry !== undefined ? targets.byName?.get(l.registry) : undefined;
        const here = named ?? targets;
        const target = l.target === 'mirror' ? here.mirror : here.registry;
        if (!target) continue;
        const user = stormRegistry(scenario, l)?.auth?.users[0];
        const upstream = new RegistryClient({ baseUrl: here.registry.url, ...(user ? { credentials: user } : {}), userAgent: 'pullbench-load' });
        upstreams.push(upstream);
        const images = l.images ?? rolloutImageRefs(rollouts);
        const credentials = l.target === 'registry' ? credentialsFor(scenario, l) : undefined;
        const discovery = l.target === 'mirror' ? { fetch: discoverUpstream(target.url, upstream) } : {};
        for (const [j, image] of images.entries()) {
          const platform = scenario.images.find((x) => x.ref === image)?.synth?.platforms[0];
          const rate = l.rate === undefined ? undefined : share(l.rate, images.length, j);
          // A rate below the number of images: 1 req/s for the first `rate` images and no storm for the rest, so the total is the rate asked.
          if (rate === 0) continue;
          const prepared = await prepareLoad({
            registry: target.url,
            image,
            profile: l.profile,
            connections: Math.max(1, share(l.connections, images.length, j)),
            durationSeconds: LONGEST_SECONDS,
            ...(rate !== undefined ? { rate } : {}),
            ...(credentials ? { credentials } : {}),
            ...(platform ? { platform } : {}),
            ...(l.mix ? { mix: l.mix } : {}),
            timeoutSeconds: l.timeout / 1000,
          }, discovery).catch((cause: unknown) => {
            throw new PullbenchError('RUN_INVALID', `load[${i}] (${l.name ?? `storm-${i + 1}`}): cannot storm ${image} on the ${l.target}: ${cause instanceof PullbenchError ? cause.message : 'unexpected error'}`, { cause });
          });
          planned.push({ storm: l.name ?? `storm-${i + 1}`, target: l.target, image, startBeforeMs: l.startBefore, durationMs: l.duration === 'rollout' ? undefined : l.duration, prepared });
        }
      }
    } finally {
      for (const u of upstreams) await u.close();
    }
    return planned.length > 0 ? new LoadStage(planned) : undefined;
  }

  /** Storms planned: one per storm and image. */
  get size(): number {
    return this.storms.length;
  }

  /** `manifest-get x4 on the registry (demo/app:v1)`, for progress lines. */
  describe(): string {
    return this.storms.map((s) => `${s.storm} ${s.prepared.spec.profile} x${s.prepared.spec.connections} on the ${s.target} (${s.image})`).join(', ');
  }

  /** Starts the storms, each its startBefore ahead of the rollout; resolves when the rollout should begin. */
  async start(): Promise<void> {
    const lead = Math.max(...this.storms.map((s) => s.startBeforeMs));
    const signal = this.abort.signal;
    this.runs = this.storms.map(async (s) => {
      // An aborted wait still runs the storm, with an aborted signal: it stops at once and reports zero requests.
      if (lead > s.startBeforeMs) await sleep(lead - s.startBeforeMs, undefined, { signal }).catch(() => undefined);
      return s.prepared.run({ signal: s.durationMs === undefined ? signal : AbortSignal.any([signal, AbortSignal.timeout(s.durationMs)]) });
    });
    // Keep a storm's failure for stop(), never as an unhandled rejection meanwhile.
    for (const r of this.runs) r.catch(() => undefined);
    await sleep(lead, undefined, { signal }).catch(() => undefined);
  }

  /** Stops every storm (the rollout ended) and returns what each sent and measured. */
  async stop(): Promise<StormRun[]> {
    this.abort.abort();
    const settled = await Promise.allSettled(this.runs);
    this.unregister();
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((r, i) => {
      const s = this.storms[i]!;
      return { storm: s.storm, target: s.target, image: s.image, result: (r as PromiseFulfilledResult<LoadResult>).value };
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.runs);
    this.unregister();
  }
}
