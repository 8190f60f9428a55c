import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedRuntime, type LayerStoreKind } from '../../src/node/runtimes/embedded.js';
import { synthImage } from './helpers/images.js';

const img = synthImage([2_000_000]);
const layer = img.layers[0]!;

// A registry for one image whose layer answers end early: `cuts[i]` is how many body bytes the i-th layer request
// gets before the server closes the connection cleanly (undefined: the whole rest). Ranges are honoured unless
// `ignoreRange`.
async function cuttingRegistry(cuts: (number | undefined)[], ignoreRange = false): Promise<{ host: string; ranges: (string | undefined)[]; server: Server }> {
  const ranges: (string | undefined)[] = [];
  const send = (res: ServerResponse, body: Buffer, type: string, digest: string, head: boolean): void => {
    res.writeHead(200, { 'content-type': type, 'content-length': String(body.length), 'docker-content-digest': digest });
    res.end(head ? undefined : body);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    const head = req.method === 'HEAD';
    if (url === '/v2/') return void res.end('{}');
    if (/\/manifests\//.test(url)) return send(res, img.manifest, 'application/vnd.oci.image.manifest.v1+json', img.manifestDigest, head);
    if (url.endsWith(img.configDigest)) return send(res, img.config, 'application/vnd.oci.image.config.v1+json', img.configDigest, head);
    if (!url.endsWith(layer.digest)) return void res.writeHead(404).end();
    const i = ranges.length;
    ranges.push(req.headers.range);
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = m && !ignoreRange ? Number(m[1]) : 0;
    const rest = layer.gz.subarray(from);
    res.writeHead(from > 0 ? 206 : 200, {
      'content-length': String(rest.length),
      ...(from > 0 ? { 'content-range': `bytes ${from}-${layer.gz.length - 1}/${layer.gz.length}` } : {}),
    });
    const cut = cuts[i];
    if (cut === undefined) res.end(rest);
    else res.write(rest.subarray(0, cut), () => setTimeout(() => res.socket?.end(), 5));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, ranges, server };
}

describe("a layer download cut short resumes with a Range request, as containerd's httpReadSeeker", { timeout: 30_000 }, () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
  });

  async function pull(layerStore: LayerStoreKind, cuts: (number | undefined)[], ignoreRange = false) {
    const reg = await cuttingRegistry(cuts, ignoreRange);
    server = reg.server;
    await using rt = await EmbeddedRuntime.start({ label: 't', hostsToml: { [reg.host]: `server = "http://${reg.host}"\n` }, layerStore });
    const outcome = await rt.pullImage(`${reg.host}/lib/app:v1`).then(
      (id) => id,
      (err: Error) => err.message,
    );
    return { outcome, ranges: reg.ranges, bytes: rt.stats().bytesDownloaded };
  }

  it.each<LayerStoreKind>(['inflate-only', 'disk'])('%s store: asks again at the received offset and keeps what it had', async (store) => {
    const { outcome, ranges } = await pull(store, [700_003, 300_000]);
    expect(outcome).toBe(img.configDigest);
    expect(ranges).toEqual([undefined, 'bytes=700003-', 'bytes=1000003-']);
  });

  it('inflate-only store: drops the bytes before the offset when the registry ignores Range and sends the whole blob', async () => {
    const { outcome, ranges } = await pull('inflate-only', [500_000], true);
    expect(outcome).toBe(img.configDigest);
    expect(ranges).toEqual([undefined, 'bytes=500000-']);
  });

  it('inflate-only store: gives up after three resumes in a row that bring no byte', async () => {
    const { outcome, ranges } = await pull('inflate-only', [1000, 0, 0, 0, 0, 0]);
    expect(outcome).toMatch(/^rpc error: code = Unknown desc = failed to pull and unpack image/);
    expect(ranges).toEqual([undefined, 'bytes=1000-', 'bytes=1000-', 'bytes=1000-']);
  });

  it('inflate-only store: counts again from one cut when a resume brings bytes', async () => {
    const { outcome, ranges } = await pull('inflate-only', [1000, 0, 0, 10, 0, 0, undefined]);
    expect(outcome).toBe(img.configDigest);
    expect(ranges).toHaveLength(7);
  });
});
