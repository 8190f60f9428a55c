import { PullbenchError } from '../errors.js';
import { tokenFromResponse } from '../oci/auth.js';
import { RegistryClient } from '../oci/client.js';
import { isIndexMediaType, type ImageIndex, type ImageManifest } from '../oci/media-types.js';
import { hostPlatform, parsePlatform, selectPlatform } from '../oci/platform.js';
import { parseReference } from '../oci/reference.js';
import type { ImageTarget } from './plan.js';
import type { LoadCredentials } from './types.js';

/** The image and how to authorise requests for it, as the registry client found out. */
export interface DiscoveredTarget {
  target: ImageTarget;
  auth: 'none' | 'basic' | 'bearer';
  /** Authorization header for registry requests (Basic or Bearer); undefined when anonymous. */
  authorization?: string;
  /** Authorization header the client sent to the token endpoint (Basic), if any. */
  tokenAuthorization?: string;
  /** When the bearer token expires (ms since epoch, this machine's clock). */
  tokenExpiry?: TokenExpiry;
}

interface Observed {
  authorization?: string | undefined;
  tokenUrl?: URL | undefined;
  tokenAuthorization?: string | undefined;
  expiry?: TokenExpiry | undefined;
}

/** When a token expires, and how long it lived (for the refresh margin). */
export interface TokenExpiry {
  expiresAt: number;
  lifetimeMs: number;
}

/** The Docker token spec's default lifetime when expires_in is absent. */
const DEFAULT_TOKEN_SECONDS = 60;

/**
 * Resolves `--image` on the registry with the oci RegistryClient (anonymous
 * first, then Basic or a Bearer token as containerd does), following an index
 * to this host's (or the given) platform. A fetch wrapper watches what the
 * client sends, so the storm reuses the client's own Authorization header and
 * token request rather than re-implementing the token flow.
 */
export async function discoverTarget(opts: {
  registry: string;
  image: string;
  credentials?: LoadCredentials | undefined;
  platform?: string | undefined;
  fetch?: typeof fetch | undefined;
  timeoutMs?: number | undefined;
}): Promise<DiscoveredTarget> {
  const observed: Observed = {};
  const baseFetch = opts.fetch ?? globalThis.fetch;
  const client = new RegistryClient({
    baseUrl: opts.registry,
    credentials: opts.credentials,
    fetch: observingFetch(baseFetch, observed),
    timeoutMs: opts.timeoutMs,
    userAgent: 'pullbench-load',
  });
  const registry = client.baseUrl;
  const { repository, reference } = splitImage(opts.image, new URL(registry).host);
  const want = opts.platform ? parsePlatform(opts.platform) : hostPlatform();

  const top = await client.getManifest(repository, reference);
  const manifestChain = [top.descriptor.digest];
  let manifest = top;
  if (isIndexMediaType(top.mediaType)) {
    const chosen = selectPlatform(parseJson<ImageIndex>(top.bytes, repository), want);
    manifest = await client.getManifest(repository, chosen.digest);
    manifestChain.push(manifest.descriptor.digest);
  }
  const image = parseJson<ImageManifest>(manifest.bytes, repository);
  if (!image.config?.digest || !Array.isArray(image.layers)) {
    throw new PullbenchError('INVALID_MANIFEST', `${repository}@${manifest.descriptor.digest} is not an image manifest (no config or layers)`);
  }

  const auth = observed.authorization?.startsWith('Bearer ') ? 'bearer' : observed.authorization?.startsWith('Basic ') ? 'basic' : 'none';
  return {
    target: {
      registry,
      repository,
      reference,
      manifestDigest: top.descriptor.digest,
      manifestChain,
      config: { digest: image.config.digest, size: image.config.size },
      layers: image.layers.map((l) => ({ digest: l.digest, size: l.size })),
      ...(observed.tokenUrl ? { tokenUrl: observed.tokenUrl } : {}),
    },
    auth,
    ...(observed.authorization ? { authorization: observed.authorization } : {}),
    ...(observed.tokenAuthorization ? { tokenAuthorization: observed.tokenAuthorization } : {}),
    ...(auth === 'bearer' && observed.expiry ? { tokenExpiry: observed.expiry } : {}),
  };
}

/**
 * Fetches a fresh bearer token by replaying the token request the registry
 * client made during discovery; returns the new Authorization header and lifetime.
 */
export async function refreshToken(discovered: DiscoveredTarget, fetchFn: typeof fetch = globalThis.fetch): Promise<{ authorization: string; expiry: TokenExpiry }> {
  const url = discovered.target.tokenUrl;
  if (!url) throw new PullbenchError('INTERNAL', 'no token endpoint to refresh from');
  const headers: Record<string, string> = { 'user-agent': 'pullbench-load' };
  if (discovered.tokenAuthorization) headers.authorization = discovered.tokenAuthorization;
  let res: Response;
  try {
    res = await fetchFn(url, { headers, signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new PullbenchError('REGISTRY_UNREACHABLE', `cannot reach the token endpoint ${url.origin}${url.pathname}`, { cause: err });
  }
  if (res.status !== 200) {
    await res.arrayBuffer().catch(() => undefined);
    throw new PullbenchError(res.status === 401 ? 'REGISTRY_UNAUTHORIZED' : 'REGISTRY_ERROR', `the token endpoint refused a refresh (${res.status})`, {
      details: { status: res.status },
    });
  }
  const receivedAt = Date.now();
  const body = (await res.json().catch(() => undefined)) as unknown;
  return { authorization: `Bearer ${tokenFromResponse(body)}`, expiry: tokenExpiry(body, receivedAt) };
}

/** `repo:tag`, `repo@digest`, or `host:port/repo:tag` naming this registry -> repository and reference. */
export function splitImage(image: string, registryHost: string): { repository: string; reference: string } {
  const first = image.split('/')[0] ?? '';
  const hasDomain = image.includes('/') && (/[.:]/.test(first) || first === 'localhost');
  const ref = parseReference(hasDomain ? image : `${registryHost}/${image}`);
  if (hasDomain && ref.domain !== registryHost) {
    throw new PullbenchError('INVALID_ARGUMENT', `--image names ${ref.domain} but the registry is ${registryHost}; give the repository without a host, e.g. library/nginx:1.27`);
  }
  return { repository: ref.path, reference: ref.reference };
}

function observingFetch(base: typeof fetch, observed: Observed): typeof fetch {
  return async (input, init) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const authorization = new Headers(init?.headers).get('authorization') ?? undefined;
    const res = await base(input, init);
    if (url.pathname.startsWith('/v2/')) {
      if (res.status >= 200 && res.status < 300) observed.authorization = authorization;
    } else if (res.status === 200) {
      // Not a /v2/ path: the client's request to the token realm (with service and scope).
      observed.tokenUrl = url;
      observed.tokenAuthorization = authorization;
      observed.expiry = tokenExpiry(await res.clone().json().catch(() => undefined), Date.now());
    }
    return res;
  };
}

/**
 * Expiry of a token response: `expires_in` (60 s when absent, as the Docker token
 * spec says) counted from `issued_at` or from when it arrived, whichever is earlier
 * (issued_at is often whole seconds; a server clock far off is ignored).
 */
export function tokenExpiry(body: unknown, receivedAt: number): TokenExpiry {
  const b = (body ?? {}) as { expires_in?: unknown; issued_at?: unknown };
  const lifetimeMs = (typeof b.expires_in === 'number' && b.expires_in > 0 ? b.expires_in : DEFAULT_TOKEN_SECONDS) * 1000;
  const issued = typeof b.issued_at === 'string' ? Date.parse(b.issued_at) : Number.NaN;
  const start = Number.isFinite(issued) && Math.abs(issued - receivedAt) < lifetimeMs ? Math.min(issued, receivedAt) : receivedAt;
  return { expiresAt: start + lifetimeMs, lifetimeMs };
}

/** Milliseconds from `now` until a refresh: a margin of 20% of the lifetime, at least min(10 s, half of it). */
export function refreshDelayMs(expiry: TokenExpiry, now: number): number {
  const margin = Math.max(0.2 * expiry.lifetimeMs, Math.min(10_000, 0.5 * expiry.lifetimeMs));
  return Math.max(0, expiry.expiresAt - margin - now);
}

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    throw new PullbenchError('INVALID_MANIFEST', `the manifest of ${what} is not valid JSON`);
  }
}
