import { PullbenchError } from '../errors.js';
import { LoadEngine, type EngineTick } from './engine.js';
import { planRequests, type ImageTarget } from './plan.js';
import { summarize } from './results.js';
import { discoverTarget, refreshDelayMs, refreshToken, type DiscoveredTarget, type TokenExpiry } from './target.js';
import { LOAD_PROFILES, type LoadResult, type LoadSpec } from './types.js';

export * from './types.js';
export { renderLoadResult } from './results.js';
export { parseMix, planRequests, type ImageTarget } from './plan.js';
export type { EngineTick } from './engine.js';

export interface LoadOptions {
  /** Progress, about once a second. */
  onTick?: (tick: EngineTick) => void;
  /** Aborting ends the storm early; the result covers what was sent. */
  signal?: AbortSignal;
  /** For discovery and token refreshes (the storm itself is autocannon's sockets). */
  fetch?: typeof fetch;
}

/** A discovered target, ready to storm. */
export interface PreparedLoad {
  readonly spec: Readonly<LoadSpec>;
  readonly target: ImageTarget;
  readonly auth: DiscoveredTarget['auth'];
  run(opts?: LoadOptions): Promise<LoadResult>;
}

const LIMITS = { connections: 10_000, durationSeconds: 3600, amount: 100_000_000, rate: 1_000_000, timeoutSeconds: 600 };

/** Checks every field and throws once, listing all that are wrong. */
export function validateLoadSpec(spec: LoadSpec): void {
  const problems: string[] = [];
  const whole = (name: keyof typeof LIMITS, value: number | undefined, min: number): void => {
    if (value === undefined) return;
    if (!Number.isInteger(value) || value < min || value > LIMITS[name]) problems.push(`${name} must be a whole number from ${min} to ${LIMITS[name]}`);
  };
  let url: URL | undefined;
  try {
    url = new URL(spec.registry);
  } catch {
    problems.push(`registry ${JSON.stringify(String(spec.registry).slice(0, 200))} is not a URL`);
  }
  if (url && url.protocol !== 'http:' && url.protocol !== 'https:') problems.push('registry must be an http or https URL');
  if (url && (url.username || url.password)) problems.push('put credentials in --registry-user/--registry-password-env, not in the registry URL');
  if (url && url.pathname !== '/' && url.pathname !== '') problems.push('registry must be scheme://host[:port] without a path');
  if (typeof spec.image !== 'string' || spec.image.length === 0) problems.push('image is required (repo:tag)');
  if (!LOAD_PROFILES.includes(spec.profile)) problems.push(`profile must be one of ${LOAD_PROFILES.join(', ')}`);
  whole('connections', spec.connections, 1);
  whole('amount', spec.amount, 1);
  if (spec.durationSeconds !== undefined && !(spec.durationSeconds > 0 && spec.durationSeconds <= LIMITS.durationSeconds)) {
    problems.push(`durationSeconds must be above 0 and at most ${LIMITS.durationSeconds}`);
  }
  whole('rate', spec.rate, 1);
  if (spec.timeoutSeconds !== undefined && !(spec.timeoutSeconds > 0 && spec.timeoutSeconds <= LIMITS.timeoutSeconds)) {
    problems.push(`timeoutSeconds must be above 0 and at most ${LIMITS.timeoutSeconds}`);
  }
  if (spec.amount !== undefined && spec.amount < (spec.connections ?? 10)) problems.push('amount must be at least the number of connections');
  if (spec.credentials && (!spec.credentials.username || typeof spec.credentials.password !== 'string')) problems.push('credentials need a username and a password');
  if (problems.length > 0) {
    throw new PullbenchError('INVALID_ARGUMENT', `invalid load spec: ${problems.join('; ')}`, { details: { problems } });
  }
}

/** Validates the spec and resolves the image (and the registry's auth) so the storm can start. */
export async function prepareLoad(spec: LoadSpec, opts: Pick<LoadOptions, 'fetch'> = {}): Promise<PreparedLoad> {
  validateLoadSpec(spec);
  const discovered = await discoverTarget({
    registry: spec.registry,
    image: spec.image,
    credentials: spec.credentials,
    platform: spec.platform,
    fetch: opts.fetch,
    // Discovery is a handful of requests; the storm's --timeout is for the storm.
    timeoutMs: 30_000,
  });
  // Fail on a bad profile/mix before anything is sent.
  planRequests(spec.profile, discovered.target, spec.mix);
  return {
    spec,
    target: discovered.target,
    auth: discovered.auth,
    run: (runOpts = {}) => storm(spec, discovered, { ...opts, ...runOpts }),
  };
}

/**
 * Storms a registry the way a large rollout does (see LoadSpec.profile) and
 * returns latency percentiles, throughput, errors, non-2xx by status and 429s.
 * Bounded by `durationSeconds` (default 10) or `amount`.
 */
export async function runLoad(spec: LoadSpec, opts: LoadOptions = {}): Promise<LoadResult> {
  const prepared = await prepareLoad(spec, opts);
  return prepared.run(opts);
}

async function storm(spec: LoadSpec, discovered: DiscoveredTarget, opts: LoadOptions): Promise<LoadResult> {
  const { origin, requests } = planRequests(spec.profile, discovered.target, spec.mix);
  // autocannon opens no more connections than the overall rate.
  const connections = Math.min(spec.connections ?? 10, spec.rate ?? Number.POSITIVE_INFINITY);
  const engine = new LoadEngine({
    origin,
    requests,
    connections,
    ...(spec.amount !== undefined ? { amount: spec.amount } : { durationSeconds: spec.durationSeconds ?? 10 }),
    ...(spec.rate !== undefined ? { rate: spec.rate } : {}),
    timeoutSeconds: spec.timeoutSeconds ?? 10,
    authorization: discovered.authorization,
    tokenAuthorization: discovered.tokenAuthorization,
  });
  if (opts.onTick) engine.on('tick', opts.onTick);

  let refreshes = 0;
  let timer: NodeJS.Timeout | undefined;
  let refreshError: unknown;
  // Bearer tokens expire: fetch a new one ahead of expiry, for as long as the storm runs.
  const schedule = (expiry: TokenExpiry): void => {
    timer = setTimeout(() => {
      refreshToken(discovered, opts.fetch)
        .then(({ authorization, expiry: next }) => {
          refreshes++;
          engine.setAuthorization(authorization);
          schedule(next);
        })
        .catch((err: unknown) => {
          refreshError = err;
        });
    }, refreshDelayMs(expiry, Date.now()));
    timer.unref();
  };
  if (discovered.auth === 'bearer' && spec.profile !== 'token' && discovered.tokenExpiry !== undefined) {
    schedule(discovered.tokenExpiry);
  }
  const onAbort = (): void => engine.stop();
  if (opts.signal?.aborted) engine.stop();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const counts = await engine.run();
    const result = summarize(counts, {
      profile: spec.profile,
      target: discovered.target,
      auth: discovered.auth,
      connections,
      rate: spec.rate,
      tokenRefreshes: refreshes,
    });
    // A failed refresh shows up as 401s in the result; the warning says why.
    if (refreshError !== undefined) {
      const why = refreshError instanceof PullbenchError ? refreshError.message : 'unexpected error';
      result.warnings = [`bearer token refresh failed: ${why}`];
    }
    return result;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
