/**
 * Embedded registry vs Debian's docker-registry (distribution 2.8), same machine,
 * same run: manifest HEAD and GET rate and 100 MB blob GET throughput, with
 * autocannon. Each registry runs in its own process; autocannon runs here.
 * docker-registry logs at info level, the level its shipped configs (Debian's
 * and registry:2's) leave it at; pullbench reads that log for its counters.
 *
 *   npx tsx bench/registry/run.ts [--seconds 8] [--connections 32]
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RegistryClient } from '../../src/oci/client.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { freePort } from '../../src/util/ports.js';
import { distributionRegistry } from '../../src/registry/provider.js';
import { runAllCleanups } from '../../src/util/cleanup.js';
import { startProcess } from '../../src/util/process.js';
import { findTool } from '../../src/util/tools.js';
import { numberOption } from '../options.js';

const execFileAsync = promisify(execFile);

const SECONDS = numberOption('seconds', 8);
const CONNECTIONS = numberOption('connections', 32);
const BLOB_MB = numberOption('blob-mb', 100);
const BLOB_CONNECTIONS = numberOption('blob-connections', 4);
const ROUNDS = numberOption('rounds', 3);

interface Target {
  name: string;
  url: string;
  stop(): Promise<void>;
}

async function startEmbedded(): Promise<Target> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const devJs = fileURLToPath(new URL('../../bin/dev.js', import.meta.url));
  const proc = await startProcess({
    label: 'embedded registry',
    command: process.execPath,
    args: [devJs, 'registry', 'serve', '--port', String(port), '--storage', process.env.EMBEDDED_STORAGE ?? 'filesystem'],
    ready: async () => (await fetch(`${url}/v2/`)).status === 200,
  });
  return { name: 'embedded', url, stop: () => proc.stop() };
}

async function startDistribution(): Promise<Target> {
  const reg = await distributionRegistry.start({});
  return { name: `${reg.version()}`, url: reg.url, stop: async () => reg[Symbol.asyncDispose]() };
}

async function seed(url: string, layer: Buffer): Promise<{ manifestPath: string; blobPath: string }> {
  const client = new RegistryClient({ baseUrl: url });
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  await client.pushBlob('bench/app', config, { digest: digestOf(config), size: config.length });
  await client.pushBlob('bench/app', layer, { digest: digestOf(layer), size: layer.length });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length },
      layers: [{ mediaType: MediaType.OciLayerGzip, digest: digestOf(layer), size: layer.length }],
    }),
  );
  await client.putManifest('bench/app', 'v1', manifest, MediaType.OciManifest);
  return { manifestPath: '/v2/bench/app/manifests/v1', blobPath: `/v2/bench/app/blobs/${digestOf(layer)}` };
}

/**
 * autocannon cannot parse HEAD responses (it waits for a body) and completes no
 * 100 MB responses here, so HEAD and blob GETs use this keep-alive loop, which
 * counts body bytes as they arrive.
 */
async function httpLoad(url: string, method: 'GET' | 'HEAD', connections: number): Promise<{ rps: number; bytesPerSec: number; errors: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const deadline = Date.now() + SECONDS * 1000;
  let done = 0;
  let errors = 0;
  let bytes = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const req = request(url, { method, agent, headers: { accept: MediaType.OciManifest } }, (res) => {
        if (res.statusCode !== 200) errors++;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (Date.now() > deadline) res.destroy();
        });
        res.on('end', resolve);
        res.on('close', resolve);
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < deadline) {
        await one();
        done++;
      }
    }),
  );
  agent.destroy();
  return { rps: done / SECONDS, bytesPerSec: bytes / SECONDS, errors };
}

/**
 * Blob throughput with curl (C, writes to /dev/null), so that the client's own
 * CPU use disturbs the measurement as little as possible on a small machine.
 */
async function curlLoad(url: string, connections: number): Promise<{ rps: number; bytesPerSec: number; errors: number }> {
  const t0 = Date.now();
  const deadline = t0 + SECONDS * 1000;
  let bytes = 0;
  let done = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < deadline) {
        const { stdout } = await execFileAsync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', url]);
        const [code, size] = stdout.split(' ');
        if (code !== '200') errors++;
        bytes += Number(size);
        done++;
      }
    }),
  );
  const seconds = (Date.now() - t0) / 1000;
  return { rps: done / seconds, bytesPerSec: bytes / seconds, errors };
}

async function cannon(url: string, method: 'GET' | 'HEAD', connections: number): Promise<{ rps: number; bytesPerSec: number; errors: number }> {
  if (url.includes('/blobs/') && findTool('curl')) return curlLoad(url, connections);
  if (method === 'HEAD' || url.includes('/blobs/')) return httpLoad(url, method, connections);
  const result = await autocannon({
    url,
    method,
    connections,
    duration: SECONDS,
    headers: { accept: `${MediaType.OciManifest}, ${MediaType.DockerManifest}` },
  });
  return {
    rps: result.requests.average,
    bytesPerSec: result.throughput.total / SECONDS,
    errors: result.errors + result.non2xx + result.timeouts,
  };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const layer = randomBytes(BLOB_MB * 1024 * 1024);
  const targets = [await startEmbedded(), await startDistribution()];
  const rows: Record<string, Record<string, number>> = {};
  try {
    const paths = await Promise.all(targets.map((t) => seed(t.url, layer)));
    for (const [kind, method, pathKey, conns] of [
      ['manifest HEAD req/s', 'HEAD', 'manifestPath', CONNECTIONS],
      ['manifest GET req/s', 'GET', 'manifestPath', CONNECTIONS],
      ['blob GET MB/s', 'GET', 'blobPath', BLOB_CONNECTIONS],
    ] as const) {
      const samples: number[][] = targets.map(() => []);
      // Warm up (page cache, blob cache), then alternate targets round by round; report the median.
      for (const [i, t] of targets.entries()) await cannon(`${t.url}${paths[i]![pathKey]}`, method, conns);
      for (let round = 0; round < ROUNDS; round++) {
        for (const [i, t] of targets.entries()) {
          const r = await cannon(`${t.url}${paths[i]![pathKey]}`, method, conns);
          if (r.errors > 0) throw new Error(`${t.name} ${kind}: ${r.errors} errors`);
          samples[i]!.push(kind.endsWith('MB/s') ? r.bytesPerSec / 1024 / 1024 : r.rps);
        }
      }
      for (const [i, t] of targets.entries()) (rows[kind] ??= {})[t.name] = median(samples[i]!);
    }
  } finally {
    for (const t of targets) await t.stop();
    await runAllCleanups();
  }
  const [a, b] = targets.map((t) => t.name) as [string, string];
  console.log(
    `\nmedian of ${ROUNDS} alternating ${SECONDS}s rounds, ${CONNECTIONS} connections (blob: ${BLOB_CONNECTIONS}), ${BLOB_MB} MB blob, node ${process.versions.node}, load average ${loadavg()[0]!.toFixed(1)}`,
  );
  console.log(`| measurement | ${a} | ${b} | ratio |`);
  console.log('| --- | ---: | ---: | ---: |');
  for (const [kind, v] of Object.entries(rows)) {
    console.log(`| ${kind} | ${v[a]!.toFixed(0)} | ${v[b]!.toFixed(0)} | ${(v[a]! / v[b]!).toFixed(2)}x |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
