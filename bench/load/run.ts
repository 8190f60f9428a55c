/**
 * Does `pullbench load` add overhead of its own? Requests per second it sustains
 * against the embedded registry vs the same requests sent by the autocannon CLI
 * directly (same URL, headers, connections, duration), same run. The registry runs
 * in its own process (`pullbench registry serve`), and so does each load generator.
 * Arms alternate (pullbench first, then the CLI first, ...) and medians are compared.
 *
 *   npx tsx bench/load/run.ts [--seconds 8] [--connections 32] [--rounds 4] [--blob-kb 256]
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { LoadResult } from '../../src/load/index.js';
import { RegistryClient } from '../../src/oci/client.js';
import { MANIFEST_ACCEPT, MediaType } from '../../src/oci/media-types.js';
import { runAllCleanups } from '../../src/util/cleanup.js';
import { freePort } from '../../src/util/ports.js';
import { startProcess } from '../../src/util/process.js';
import { listOption, numberOption } from '../options.js';

const exec = promisify(execFile);
const SECONDS = numberOption('seconds', 8);
const CONNECTIONS = numberOption('connections', 32);
const ROUNDS = numberOption('rounds', 4);
const BLOB_KB = numberOption('blob-kb', 256);
const UA = 'pullbench-load';
const PROFILES = listOption('profiles', ['manifest-get', 'blob-get', 'manifest-head']);
const devJs = fileURLToPath(new URL('../../bin/dev.js', import.meta.url));
const autocannonBin = fileURLToPath(new URL('../../node_modules/.bin/autocannon', import.meta.url));

async function seed(url: string): Promise<string> {
  const client = new RegistryClient({ baseUrl: url });
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const cfg = await client.pushBlob('bench/app', config);
  const layer = await client.pushBlob('bench/app', randomBytes(BLOB_KB * 1024));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: cfg.digest, size: cfg.size },
      layers: [{ mediaType: MediaType.OciLayerGzip, digest: layer.digest, size: layer.size }],
    }),
  );
  await client.putManifest('bench/app', 'v1', manifest, MediaType.OciManifest);
  return layer.digest;
}

interface Arm {
  rps: number;
  errors: number;
  /** CPU microseconds the load generator spent per completed request. */
  cpuPerRequestUs: number;
}

async function pullbenchArm(url: string, profile: string): Promise<Arm> {
  const { stdout } = await exec(
    process.execPath,
    [devJs, 'load', '--registry', url, '--image', 'bench/app:v1', '--profile', profile, '--connections', String(CONNECTIONS), '--duration', `${SECONDS}s`, '--json'],
    { env: { ...process.env, CI: '1' }, maxBuffer: 16 * 1024 * 1024 },
  );
  const r = JSON.parse(stdout) as LoadResult;
  return {
    rps: r.requests.total / r.durationSeconds,
    errors: r.errors + Object.values(r.non2xx).reduce((a, b) => a + b, 0),
    cpuPerRequestUs: ((r.generatorCpuMs ?? 0) * 1000) / Math.max(1, r.requests.total),
  };
}

// CPU of a whole autocannon CLI process (user + system seconds), via /usr/bin/time.
async function timedCli(cliArgs: string[]): Promise<{ stdout: string; cpuMs: number }> {
  const out = join(tmpdir(), `pullbench-bench-time-${process.pid}`);
  const { stdout } = await exec('/usr/bin/time', ['-f', '%U %S', '-o', out, autocannonBin, ...cliArgs], { maxBuffer: 16 * 1024 * 1024 });
  const [user, sys] = (await readFile(out, 'utf8')).trim().split('\n').pop()!.split(' ').map(Number);
  await rm(out, { force: true });
  return { stdout, cpuMs: ((user ?? 0) + (sys ?? 0)) * 1000 };
}

let cliStartupCpuMs: number | undefined;

async function cliArm(url: string, method: 'GET' | 'HEAD', headers: Record<string, string>): Promise<Arm> {
  const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]);
  // The CLI's own start-up and exit, measured with a one-request run, is not storm CPU.
  cliStartupCpuMs ??= (await timedCli(['-c', '1', '-a', '1', '-j', ...h, url])).cpuMs;
  const { stdout, cpuMs } = await timedCli(['-c', String(CONNECTIONS), '-d', String(SECONDS), '-m', method, '-j', ...h, url]);
  const r = JSON.parse(stdout) as { requests: { total: number }; duration: number; errors: number; non2xx: number };
  return {
    rps: r.requests.total / r.duration,
    errors: r.errors + r.non2xx,
    cpuPerRequestUs: r.requests.total > 0 ? (Math.max(0, cpuMs - cliStartupCpuMs) * 1000) / r.requests.total : Number.NaN,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const registry = await startProcess({
    label: 'embedded registry',
    command: process.execPath,
    args: [devJs, 'registry', 'serve', '--port', String(port), '--storage', 'memory'],
    ready: async () => (await fetch(`${url}/v2/`)).status === 200,
  });
  try {
    const layer = await seed(url);
    const cases: Array<{ profile: string; method: 'GET' | 'HEAD'; path: string; headers: Record<string, string> }> = [
      { profile: 'manifest-get', method: 'GET', path: '/v2/bench/app/manifests/v1', headers: { accept: MANIFEST_ACCEPT, 'user-agent': UA } },
      { profile: 'blob-get', method: 'GET', path: `/v2/bench/app/blobs/${layer}`, headers: { accept: '*/*', 'user-agent': UA } },
      { profile: 'manifest-head', method: 'HEAD', path: '/v2/bench/app/manifests/v1', headers: { accept: MANIFEST_ACCEPT, 'user-agent': UA } },
    ];
    console.log(
      `embedded registry (own process) at ${url}; ${CONNECTIONS} connections, ${SECONDS} s per arm, ${ROUNDS} rounds, blob ${BLOB_KB} KiB; ` +
        `${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(1)}`,
    );
    console.log('profile        pullbench req/s  autocannon CLI req/s  ratio   | CPU µs/req pullbench  CLI   ratio | errors (pb/cli)');
    for (const c of cases.filter((x) => PROFILES.includes(x.profile))) {
      const pb: number[] = [];
      const cli: number[] = [];
      const pbCpu: number[] = [];
      const cliCpu: number[] = [];
      let errs = [0, 0];
      for (let i = 0; i < ROUNDS; i++) {
        // Alternate which arm goes first, so drift in the machine's load hits both alike.
        const first = i % 2 === 0;
        const b0 = first ? undefined : await cliArm(url + c.path, c.method, c.headers);
        const a = await pullbenchArm(url, c.profile);
        const b = b0 ?? (await cliArm(url + c.path, c.method, c.headers));
        pb.push(a.rps);
        cli.push(b.rps);
        pbCpu.push(a.cpuPerRequestUs);
        cliCpu.push(b.cpuPerRequestUs);
        errs = [errs[0]! + a.errors, errs[1]! + b.errors];
      }
      const ratio = median(cli) > 0 ? (median(pb) / median(cli)).toFixed(3) : 'n/a';
      const cpuRatio = median(cliCpu) > 0 ? (median(pbCpu) / median(cliCpu)).toFixed(3) : 'n/a';
      console.log(
        `${c.profile.padEnd(14)} ${median(pb).toFixed(0).padStart(15)}  ${median(cli).toFixed(0).padStart(20)}  ${ratio.padStart(5)}   | ` +
          `${median(pbCpu).toFixed(0).padStart(19)}  ${(Number.isNaN(median(cliCpu)) ? 'n/a' : median(cliCpu).toFixed(0)).padStart(4)}  ${cpuRatio.padStart(5)} | ${errs[0]}/${errs[1]}`,
      );
    }
  } finally {
    await registry.stop();
    await runAllCleanups();
  }
}

await main();
