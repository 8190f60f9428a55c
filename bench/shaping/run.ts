/**
 * Shaping benchmark: pull a synthesised image from the embedded registry over
 * a shaped link (default 100 Mbit/s, 20 ms one way) and compare the measured
 * pull time with the ideal:
 *
 *   ideal = bytes on the link * 8 / bandwidth + round trips * 2 * latency
 *
 * "bytes on the link" is what the proxy carried towards the node (bodies and
 * HTTP headers). Round trips are the sequential ones on the critical path of a
 * pull, in containerd's order: the TCP handshake of the first connection, HEAD
 * manifest, GET manifest, GET config, and the first layer request, which waits
 * for the config (later layer requests and the handshakes of the parallel
 * connections overlap with bytes already flowing): 5 for the client. The
 * embedded runtime has one more, the handshake of its second transport: like
 * containerd's CRI it resolves on one transport and fetches on another, so the
 * manifest GET waits for a new connection.
 *
 *   npx tsx bench/shaping/run.ts [--mbit 100] [--latency 20] [--repeat 3] [--quick] [--json out.json]
 *
 * Each puller is also timed over an unshaped proxy (same process, same code path):
 * on a busy machine that baseline shows how much of the gap is CPU, not the link.
 * The table also shows the connections a pull opened: each costs a handshake
 * round trip; keep-alive pools (src/net/http-pool.ts) put one on the client's
 * critical path, two on the embedded runtime's (a transport for the resolve and
 * one for the fetches, as containerd's CRI has).
 *
 * Three pullers: `client` (RegistryClient, containerd's order, layers 3 at a time,
 * digests verified, bytes discarded), `embedded` (the node's embedded runtime,
 * which also decompresses and unpacks, so CPU shows up in its figure) through the
 * proxy, and `embedded-routes`: the same runtime shaping its own connections to the
 * registry (ShapedRoutes, no proxy), as emulated nodes do.
 */
import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { startShapedProxy, type StartedProxy } from '../../src/net/index.js';
import { RegistryClient } from '../../src/oci/client.js';
import type { ImageManifest } from '../../src/oci/media-types.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { EmbeddedRuntime } from '../../src/node/runtimes/embedded.js';
import { embeddedRegistry } from '../../src/registry/provider.js';
import { environmentInfo } from '../../src/util/environment.js';

const MB = 1024 * 1024;
/** Sequential round trips on a pull's critical path (see the header). */
const ROUND_TRIPS: Record<Puller, number> = { client: 5, embedded: 6, 'embedded-routes': 6 };

type Puller = 'client' | 'embedded' | 'embedded-routes';

interface Case {
  name: string;
  layers: number[];
}

interface Row {
  image: string;
  puller: Puller;
  bytesOnLink: number;
  idealMs: number;
  measuredMs: number[];
  medianMs: number;
  /** Median pull time over an unshaped proxy. */
  unshapedMs: number;
  connections: number;
  /** Sequential round trips counted in the ideal. */
  roundTrips: number;
  /** median measured / ideal */
  ratio: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** containerd's order: resolve (HEAD), manifest, config, then layers `concurrency` at a time. */
async function clientPull(baseUrl: string, repo: string, tag: string, concurrency = 3): Promise<void> {
  await using client = new RegistryClient({ baseUrl });
  const desc = await client.resolve(repo, tag);
  const manifest = JSON.parse((await client.getManifest(repo, desc.digest)).bytes.toString('utf8')) as ImageManifest;
  const drain = async (digest: string): Promise<void> => {
    const blob = await client.getBlob(repo, digest);
    await pipeline(blob.body, new Writable({ write: (_c, _e, cb) => cb() }));
  };
  await drain(manifest.config.digest);
  const queue = manifest.layers.map((l) => l.digest);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let d = queue.shift(); d !== undefined; d = queue.shift()) await drain(d);
    }),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mbit: { type: 'string', default: '100' },
      latency: { type: 'string', default: '20' },
      repeat: { type: 'string', default: '3' },
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  const bps = Number(values.mbit) * 1e6;
  const latencyMs = Number(values.latency);
  const repeat = Number(values.repeat);
  const cases: Case[] = values.quick
    ? [{ name: 'img-10mb-1l', layers: [10 * MB] }]
    : [
        { name: 'img-10mb-1l', layers: [10 * MB] },
        { name: 'img-50mb-4l', layers: [20 * MB, 15 * MB, 10 * MB, 5 * MB] },
      ];

  await using registry = await embeddedRegistry.start({ storage: 'memory' });
  const rows: Row[] = [];
  for (const c of cases) {
    await using pusher = new RegistryClient({ baseUrl: registry.url });
    await pushSynthImage(pusher, `bench/${c.name}`, 'v1', { layers: c.layers, seed: c.name });
    for (const puller of ['client', 'embedded', 'embedded-routes'] as const) {
      const measured: number[] = [];
      const unshaped: number[] = [];
      let bytesOnLink = 0;
      let connections = 0;
      // One untimed warm-up, then `repeat` timed cold pulls, each over a fresh link (new connections, as a new node),
      // alternating shaped and unshaped so that drift on a shared machine hits both alike.
      for (let i = 0; i <= 2 * repeat; i++) {
        const shaped = i % 2 === 1 || i === 0;
        const link = shaped ? { bandwidthBps: bps, latencyMs } : { bandwidthBps: 1e12, latencyMs: 0 };
        const routes = puller === 'embedded-routes';
        const proxy: StartedProxy | undefined = routes ? undefined : await startShapedProxy({ target: registry.host, link });
        const host = proxy?.host ?? registry.host;
        const image = `${host}/bench/${c.name}:v1`;
        const runtime =
          puller === 'client'
            ? undefined
            : await EmbeddedRuntime.start({
                label: 'shaping',
                hostsToml: { [host]: `server = "http://${host}"\n` },
                layerStore: 'inflate-only',
                ...(routes ? { routes: [{ name: 'registry', target: registry.host, link }] } : {}),
              });
        try {
          const t0 = performance.now();
          if (runtime) await runtime.pullImage(image);
          else await clientPull(`http://${host}`, `bench/${c.name}`, 'v1');
          const ms = performance.now() - t0;
          if (i > 0) (shaped ? measured : unshaped).push(ms);
          if (shaped) {
            // The runtime's own links count bytes only: its connections show as -1.
            bytesOnLink = proxy?.stats().bytesDown ?? runtime?.stats().linkBytesDown?.registry ?? 0;
            connections = proxy?.stats().connections ?? -1;
          }
        } finally {
          await runtime?.[Symbol.asyncDispose]();
          await proxy?.close();
        }
      }
      const roundTrips = ROUND_TRIPS[puller];
      const idealMs = (bytesOnLink * 8 * 1000) / bps + roundTrips * 2 * latencyMs;
      const row: Row = {
        image: c.name,
        puller,
        bytesOnLink,
        idealMs,
        measuredMs: measured.map(Math.round),
        medianMs: median(measured),
        unshapedMs: median(unshaped),
        connections,
        roundTrips,
        ratio: median(measured) / idealMs,
      };
      rows.push(row);
      console.error(`${c.name} ${puller}: median ${row.medianMs.toFixed(0)} ms, ideal ${idealMs.toFixed(0)} ms, ratio ${row.ratio.toFixed(3)}, unshaped ${row.unshapedMs.toFixed(0)} ms`);
    }
  }
  console.log(`link ${values.mbit} Mbit/s, ${latencyMs} ms one way; ideal = bytes*8/bandwidth + round trips * 2 * latency`);
  console.log('| image | puller | bytes on link | connections | round trips | ideal ms | shaped median ms | ratio | unshaped median ms |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.image} | ${r.puller} | ${(r.bytesOnLink / MB).toFixed(1)} MiB | ${r.connections < 0 ? '-' : r.connections} | ${r.roundTrips} | ${r.idealMs.toFixed(0)} | ${r.medianMs.toFixed(0)} | ${r.ratio.toFixed(3)} | ${r.unshapedMs.toFixed(0)} |`,
    );
  }
  if (values.json) await writeFile(values.json, JSON.stringify({ environment: environmentInfo(), bps, latencyMs, repeat, rows }, null, 2));
}

await main();
