import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { EmbeddedRuntime } from '../../src/node/runtimes/embedded.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { pushWithClient, synthImage } from './helpers/images.js';
import { slowBlobFetch } from './helpers/slow-fetch.js';

describe('the embedded runtime follows the containerd release it models', () => {
  let registry: StartedRegistry;
  const hostsToml = (extra = ''): Record<string, string> => ({ [registry.host]: `server = "http://${registry.host}"\n${extra}` });

  beforeAll(async () => {
    registry = await embeddedRegistry.start({});
    await pushWithClient(registry.url, 'lib/one', 'v1', synthImage([20_000, 20_000, 20_000]));
    await pushWithClient(registry.url, 'lib/two', 'v1', synthImage([20_000, 20_000, 20_000]));
  });
  afterAll(async () => registry?.[Symbol.asyncDispose]());

  describe('max_concurrent_downloads', () => {
    // Two pulls at once, limit 1: blob GETs in flight at the busiest moment.
    async function peakOfTwoPulls(containerdVersion: string): Promise<number> {
      const slow = slowBlobFetch();
      await using rt = await EmbeddedRuntime.start({ label: 't', hostsToml: hostsToml(), fetch: slow.fetch, maxConcurrentDownloads: 1, containerdVersion });
      await Promise.all([rt.pullImage(`${registry.host}/lib/one:v1`), rt.pullImage(`${registry.host}/lib/two:v1`)]);
      return slow.peak();
    }
    it.each(['1.7', '2.0'])('is per pull in %s (client.Pull makes its own semaphore)', async (v) => {
      expect(await peakOfTwoPulls(v)).toBe(2);
    });
    it('is node-wide in 2.1 (the transfer service limiter)', async () => {
      expect(await peakOfTwoPulls('2.1')).toBe(1);
    });
  });

  describe('a registry that answers 5xx', () => {
    // The first `failures` manifest requests get the statuses given, in order; the rest go through.
    function flaky(statuses: number[]) {
      const seen: string[] = [];
      const f: typeof fetch = async (input, init) => {
        const url = String(input);
        if (url.includes('/manifests/')) {
          const status = statuses[seen.filter((s) => s.includes('/manifests/')).length];
          seen.push(url);
          if (status) return new Response('{"errors":[]}', { status });
        } else seen.push(url);
        return fetch(input, init);
      };
      return { f, manifestRequests: () => seen.filter((s) => s.includes('/manifests/')).length };
    }
    async function pull(containerdVersion: string, statuses: number[], toml = hostsToml()) {
      const { f, manifestRequests } = flaky(statuses);
      await using rt = await EmbeddedRuntime.start({ label: 't', hostsToml: toml, fetch: f, containerdVersion });
      const code = await rt.pullImage(`${registry.host}/lib/one:v1`).then(() => 'ok', (e: unknown) => (isPullbenchError(e) ? e.code : String(e)));
      return { code, requests: manifestRequests() };
    }
    it.each([500, 503, 504])('2.1 retries a %i once on the last host, and the pull succeeds', async (status) => {
      expect(await pull('2.1', [status])).toEqual({ code: 'ok', requests: 3 });
    });
    it('2.1 does not retry the same 503 twice', async () => {
      expect(await pull('2.1', [503, 503])).toMatchObject({ code: 'RUNTIME_ERROR', requests: 2 });
    });
    it.each(['1.7', '2.0'])('%s fails on the first 503', async (v) => {
      expect(await pull(v, [503])).toMatchObject({ code: 'RUNTIME_ERROR', requests: 1 });
    });
    it('2.1 does not retry on a host that is not the last: it falls back to the next', async () => {
      // A mirror first, its HEAD answered 503 and not repeated; then the registry's HEAD, the mirror's GET (a 404:
      // that path serves nothing) and the registry's GET.
      const toml = { [registry.host]: `server = "http://${registry.host}"\n[host."http://${registry.host}/mirror"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n` };
      expect(await pull('2.1', [503], toml)).toEqual({ code: 'ok', requests: 4 });
    });
  });
});
