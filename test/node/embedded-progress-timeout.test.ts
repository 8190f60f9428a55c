import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultFront, type StartedFaultFront } from '../../src/net/fault-front.js';
import { EmbeddedRuntime, type LayerStoreKind } from '../../src/node/runtimes/embedded.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { pushWithClient, synthImage, type SynthImage } from './helpers/images.js';

// containerd's text for a pull its progress check cancelled (image_pull_timeout_test.go: errors.Unwrap(err) is
// context.Canceled; errdefs.ToGRPC gives codes.Canceled).
const cancelled = (image: string): string => `rpc error: code = Canceled desc = failed to pull and unpack image "${image}": context canceled`;

describe("the embedded runtime cancels a stalled pull after containerd's image_pull_progress_timeout", { timeout: 30_000 }, () => {
  let registry: StartedRegistry;
  let img: SynthImage;
  const toml = (host: string): Record<string, string> => ({ [host]: `server = "http://${host}"\n` });

  beforeAll(async () => {
    registry = await embeddedRegistry.start({});
    img = synthImage([300_000]);
    await pushWithClient(registry.url, 'lib/app', 'v1', img);
  });
  afterAll(async () => registry?.[Symbol.asyncDispose]());

  // A front that holds every request for `ms` once stall(ms) is called (the fault timeline's stall).
  async function stalledFront(): Promise<StartedFaultFront & { stall(ms: number): void }> {
    const front = await startFaultFront({ target: registry.host });
    front.arm();
    return Object.assign(front, { stall: (ms: number) => front.add({ kind: 'stall', startAt: Date.now(), endAt: Date.now() + ms }) });
  }

  it.each<[string, LayerStoreKind]>([
    ['1.7', 'disk'],
    ['2.0', 'inflate-only'],
  ])('%s (%s store): a request held before its answer fails the pull with context canceled', async (containerdVersion, layerStore) => {
    await using front = await stalledFront();
    await using rt = await EmbeddedRuntime.start({ label: 't', hostsToml: toml(front.host), containerdVersion, layerStore, imagePullProgressTimeoutMs: 1000 });
    front.stall(20_000);
    const image = `${front.host}/lib/app:v1`;
    const started = Date.now();
    await expect(rt.pullImage(image)).rejects.toMatchObject({ code: 'RUNTIME_ERROR', message: cancelled(image) });
    // Checked every 500 ms, cancelled once more than 1 s passed without progress: well before the stall ends.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(rt.stats().failedPulls).toBe(1);
  });

  it('2.1: a request held before any byte is not progress the transfer service reports: the pull waits it out', async () => {
    await using front = await stalledFront();
    await using rt = await EmbeddedRuntime.start({ label: 't', hostsToml: toml(front.host), containerdVersion: '2.1', imagePullProgressTimeoutMs: 1000 });
    front.stall(2500);
    await expect(rt.pullImage(`${front.host}/lib/app:v1`)).resolves.toBe(img.configDigest);
    expect(front.stats().faulted.stall).toBeGreaterThan(0);
  });

  describe('a layer whose body stops half way', () => {
    let server: Server;
    let host = '';
    beforeAll(async () => {
      // Forwards to the registry, except the layer: its headers and half its bytes, then nothing (the socket stays open).
      server = createServer((req, res) => {
        void (async () => {
          const up = await fetch(`${registry.url}${req.url}`, { method: req.method ?? 'GET', headers: { accept: String(req.headers.accept ?? '*/*') } });
          const body = Buffer.from(await up.arrayBuffer());
          const headers: Record<string, string> = {};
          for (const name of ['content-type', 'docker-content-digest', 'content-length']) {
            const v = up.headers.get(name);
            if (v !== null) headers[name] = v;
          }
          res.writeHead(up.status, headers);
          if (req.method === 'GET' && req.url?.endsWith(img.layers[0]!.digest)) res.write(body.subarray(0, body.length >> 1));
          else res.end(req.method === 'HEAD' ? undefined : body);
        })();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => {
      server.closeAllConnections();
      server.close();
    });

    it.each<[string, LayerStoreKind]>([
      ['2.1', 'disk'],
      ['2.1', 'inflate-only'],
      ['1.7', 'disk'],
    ])('%s (%s store): fails the pull with context canceled', async (containerdVersion, layerStore) => {
      await using rt = await EmbeddedRuntime.start({ label: 't', hostsToml: toml(host), containerdVersion, layerStore, imagePullProgressTimeoutMs: 1000 });
      const image = `${host}/lib/app:v1`;
      await expect(rt.pullImage(image)).rejects.toMatchObject({ message: cancelled(image) });
      // Nothing of it is kept: a pull after it fetches the layer again (and meets the same stall).
      expect(await rt.listImages()).toEqual([]);
    });

    it('with the check off (0), the pull waits for as long as the body does', async () => {
      await using rt = await EmbeddedRuntime.start({ label: 't', hostsToml: toml(host), imagePullProgressTimeoutMs: 0 });
      const outcome = await Promise.race([rt.pullImage(`${host}/lib/app:v1`).then(() => 'pulled', () => 'failed'), new Promise((r) => setTimeout(() => r('waiting'), 3000))]);
      expect(outcome).toBe('waiting');
    });
  });
});
