import { PullbenchError, type PullbenchErrorCode } from '../errors.js';
import type { HostCapability, RegistryHost } from './hosts.js';

/**
 * Host fallback as containerd's docker resolver applies it
 * (core/remotes/docker/resolver.go Resolve and fetcher.go Fetch, containerd 1.6-2.x):
 * - only hosts with the capability are tried (resolve for tags, pull for blobs/digests), in order;
 * - a network error, a 404 or any other status > 399 moves on to the next host,
 *   remembering the first error, which is what fails the request when every host fails;
 * - per host, 408 and 429 are retried (request.retryRequest) until the host has
 *   answered 6 times (`len(responses) > 5` stops), with no delay in containerd;
 * - containerd 2.1 only: on the last host, a 500, 503 or 504 is retried too, unless the response before it had
 *   the same status (request.retryRequest, `lastHost`): once, for a host that keeps failing the same way;
 * - requests to a host other than the image's registry carry `?ns=<registry>`
 *   (request.addNamespace / isProxy), except registry-1.docker.io for docker.io.
 */
const MAX_RESPONSES_PER_HOST = 6;

export interface HostAttempt {
  url: string;
  status?: number;
  error?: string;
}

export interface MirrorOptions {
  /** Delay before retrying a 408/429 on the same host; containerd retries at once (0). */
  retryDelayMs?: (retry: number) => number;
  sleep?: (ms: number) => Promise<void>;
  /** Called for every request made, for tests and request-sequence checks. */
  onAttempt?: (attempt: HostAttempt) => void;
  /** containerd 2.1: retry 500/503/504 on the last host (see above). */
  retryServerErrorsOnLastHost?: boolean;
}

const SERVER_ERRORS_RETRIED = new Set([500, 503, 504]);

function statusCode(status: number, path: string): PullbenchErrorCode {
  if (status === 404) return path.includes('/blobs/') ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN';
  if (status === 401) return 'REGISTRY_UNAUTHORIZED';
  if (status === 403) return 'REGISTRY_DENIED';
  if (status === 429) return 'REGISTRY_TOO_MANY_REQUESTS';
  return 'REGISTRY_ERROR';
}

function hostsWith(hosts: RegistryHost[], capability: HostCapability): RegistryHost[] {
  const usable = hosts.filter((h) => h.capabilities.includes(capability));
  if (usable.length === 0) {
    throw new PullbenchError('REGISTRY_ERROR', `no registry host has the ${capability} capability`, { details: { capability } });
  }
  return usable;
}

/**
 * Runs `attempt` against each host with `capability` in order until one succeeds.
 * An error whose `details.status` is 408 or 429 is retried on the same host (at
 * most 6 responses per host); any other error moves on to the next host. When
 * every host fails, the first error is thrown.
 */
export async function withMirrors<T>(
  hosts: RegistryHost[],
  capability: HostCapability,
  attempt: (host: RegistryHost) => Promise<T>,
  opts: MirrorOptions = {},
): Promise<T> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let firstError: unknown;
  const usable = hostsWith(hosts, capability);
  for (const [i, host] of usable.entries()) {
    let previous: number | undefined;
    for (let responses = 1; ; responses++) {
      try {
        return await attempt(host);
      } catch (err) {
        const status = err instanceof PullbenchError ? (err.details.status as number | undefined) : undefined;
        const serverError =
          opts.retryServerErrorsOnLastHost === true && i === usable.length - 1 && status !== undefined && SERVER_ERRORS_RETRIED.has(status) && status !== previous;
        previous = status;
        const retriable = (status === 408 || status === 429 || serverError) && responses < MAX_RESPONSES_PER_HOST;
        if (retriable) {
          const delay = opts.retryDelayMs?.(responses) ?? 0;
          if (delay > 0) await sleep(delay);
          continue;
        }
        firstError ??= err;
        break;
      }
    }
  }
  throw firstError;
}

export interface MirrorRequest {
  /** `resolve` for a tag, `pull` for content by digest, `push` for uploads. */
  capability: HostCapability;
  method: string;
  /** Path under the API root, e.g. `/library/nginx/manifests/latest`. */
  path: string;
  /** The image's registry (`docker.io`), for the `ns` query parameter on mirrors. */
  registry: string;
  headers?: Record<string, string>;
}

export interface MirrorResponse {
  response: Response;
  host: RegistryHost;
}

/** containerd's isProxy: a host other than the image's registry (registry-1.docker.io counts as docker.io). */
export function isProxy(hostUrl: string, registry: string): boolean {
  const host = new URL(hostUrl).host;
  return registry !== host && !(registry === 'docker.io' && host === 'registry-1.docker.io');
}

/**
 * One registry request through the hosts from hosts.toml, with containerd's
 * fallback and retry rules. Resolves with the first 2xx/3xx response; the
 * caller consumes its body.
 */
export async function fetchWithMirrors(
  hosts: RegistryHost[],
  request: MirrorRequest,
  opts: MirrorOptions & { fetch?: typeof fetch } = {},
): Promise<MirrorResponse> {
  const doFetch = opts.fetch ?? fetch;
  return withMirrors(
    hosts,
    request.capability,
    async (host) => {
      const url = new URL(host.url + request.path);
      if (isProxy(host.url, request.registry)) url.searchParams.set('ns', request.registry);
      let response: Response;
      try {
        response = await doFetch(url, {
          method: request.method,
          headers: { ...host.headers, ...request.headers },
          redirect: 'follow',
        });
      } catch (err) {
        opts.onAttempt?.({ url: url.href, error: (err as Error).message });
        throw new PullbenchError('REGISTRY_UNREACHABLE', `${request.method} ${url.origin}${url.pathname}: ${(err as Error).message}`, {
          cause: err,
          details: { url: url.href },
        });
      }
      opts.onAttempt?.({ url: url.href, status: response.status });
      if (response.status > 399) {
        await response.body?.cancel().catch(() => undefined);
        throw new PullbenchError(statusCode(response.status, request.path), `${request.method} ${url.origin}${url.pathname}: HTTP ${response.status}`, {
          details: { status: response.status, url: url.href },
        });
      }
      return { response, host };
    },
    opts,
  );
}
