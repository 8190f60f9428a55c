/**
 * Fidelity benchmark: pull latency of the same images by the embedded runtime
 * and by a real containerd, from the same registry, in the same run.
 *
 *   npx tsx bench/fidelity/run.ts [--quick] [--cases name,...] [--repeat N] [--warmup N] [--settle-ms N] [--registry distribution|embedded] [--no-sha-ext] [--json out.json]
 *
 * Every pull is cold (the image and its content are removed between pulls) and
 * starts after the same settle (`sync`, then a pause: see settle.ts). A case
 * runs in rounds, one pull of each runtime per round, in alternating order, so
 * drift on a shared machine hits both alike. Reports the median, the spread and
 * the CPU time per pull of each runtime, and the ratio embedded / containerd:
 * the median of the rounds' ratios (target: within 10%), with a distribution-free
 * 95% interval for it (stats.ts), and, beside it, the ratio of the two medians.
 * On a shared VM one round's ratio scatters by 10-20% either way, so 7 rounds
 * left the median itself uncertain by about the target: 15 by default.
 *
 * It also reports what each side hashes with (see hashing.ts): the Go version
 * containerd was built with, and this process's sha256 speed. `--no-sha-ext`
 * runs this process with the CPU's SHA extensions hidden from OpenSSL, so that
 * both sides hash alike when the peer's Go does not use them.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Runtime } from '../../src/node/runtime.js';
import { ContainerdRuntime } from '../../src/node/runtimes/containerd.js';
import { EmbeddedRuntime } from '../../src/node/runtimes/embedded.js';
import { distributionRegistry, embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { environmentInfo } from '../../src/util/environment.js';
import { pushWithClient, synthImage } from '../../test/node/helpers/images.js';
import { withThreadpool } from '../threadpool.js';
import { cpuHasShaExt, goUsesShaExt, goVersionOfProcess, NO_SHA_EXT, sha256MBps } from './hashing.js';
import { settle, syncAll } from './settle.js';
import { median, medianInterval, type MedianInterval } from './stats.js';

const MB = 1024 * 1024;
let settleMs = 3000;

interface Case {
  name: string;
  totalBytes: number;
  layers: number;
}

const FULL: Case[] = [
  { name: 'small-10mb-1l', totalBytes: 10 * MB, layers: 1 },
  { name: 'mid-50mb-2l', totalBytes: 50 * MB, layers: 2 },
  { name: 'mid-100mb-4l', totalBytes: 100 * MB, layers: 4 },
  { name: 'large-250mb-8l', totalBytes: 250 * MB, layers: 8 },
  { name: 'large-500mb-8l', totalBytes: 500 * MB, layers: 8 },
];
const QUICK: Case[] = [
  { name: 'small-10mb-1l', totalBytes: 10 * MB, layers: 1 },
  { name: 'mid-50mb-4l', totalBytes: 50 * MB, layers: 4 },
];

/** Not in the default runs: a tiny image shows each runtime's fixed cost per pull. */
const EXTRA: Case[] = [{ name: 'tiny-1mb-1l', totalBytes: 1 * MB, layers: 1 }];

export interface FidelityRow {
  image: string;
  bytes: number;
  layers: number;
  embeddedMs: number[];
  containerdMs: number[];
  /** CPU time (user + system) of the pulling process per pull: this process, or the containerd daemon. */
  embeddedCpuMs: number[];
  containerdCpuMs: number[];
  /** The system (kernel) part of the CPU time above. */
  embeddedSysMs: number[];
  containerdSysMs: number[];
  embeddedMedianMs: number;
  containerdMedianMs: number;
  /** Each round's embedded ms / containerd ms (the two pulls of a round are adjacent in time). */
  roundRatios: number[];
  /** The median of the rounds' ratios: the figure held to the target. */
  ratio: number;
  /** A distribution-free 95% interval for that median (stats.ts); absent with fewer than 6 rounds. */
  ratioInterval?: MedianInterval;
  /** embedded median / containerd median */
  ratioOfMedians: number;
}

interface Timed {
  ms: number;
  cpuMs: number;
  sysMs: number;
}

/** CPU time used so far, in ms: user + system, and system alone. */
interface CpuTime {
  total: number;
  sys: number;
}

// utime + stime of a process from /proc/PID/stat, in ms (clock ticks of 10 ms).
async function processCpuMs(pid: number): Promise<CpuTime> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { total: (Number(fields[11]) + Number(fields[12])) * 10, sys: Number(fields[12]) * 10 };
}

async function timedColdPull(rt: Runtime, image: string, cpuMs: () => Promise<CpuTime>, settled: boolean): Promise<Timed> {
  await rt.removeImage(image);
  if (settled) await settle(settleMs);
  const c0 = await cpuMs();
  const t0 = performance.now();
  await rt.pullImage(image);
  const ms = performance.now() - t0;
  const c1 = await cpuMs();
  await rt.removeImage(image);
  return { ms, cpuMs: c1.total - c0.total, sysMs: c1.sys - c0.sys };
}

const ownCpuMs = (): Promise<CpuTime> => {
  const u = process.cpuUsage();
  return Promise.resolve({ total: (u.user + u.system) / 1000, sys: u.system / 1000 });
};

const spread = (xs: number[]): string => `${Math.round(Math.min(...xs))}-${Math.round(Math.max(...xs))}`;

/** Renders the rows as a Markdown table (pure; used for docs/emulation-and-fidelity.md and stdout). */
export function renderTable(rows: FidelityRow[]): string {
  const lines = [
    '| image | size | layers | embedded median ms (min-max) | containerd median ms (min-max) | CPU ms per pull, embedded / containerd | ratio of medians | ratio, median of rounds (95% interval) (min-max) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.image} | ${(r.bytes / MB).toFixed(0)} MB | ${r.layers} | ${r.embeddedMedianMs.toFixed(0)} (${spread(r.embeddedMs)}) | ${r.containerdMedianMs.toFixed(0)} (${spread(r.containerdMs)}) | ${median(r.embeddedCpuMs).toFixed(0)} / ${median(r.containerdCpuMs).toFixed(0)} | ${r.ratioOfMedians.toFixed(2)} | ${r.ratio.toFixed(2)} ${r.ratioInterval ? `(${r.ratioInterval.low.toFixed(2)}-${r.ratioInterval.high.toFixed(2)})` : '(-)'} (${Math.min(...r.roundRatios).toFixed(2)}-${Math.max(...r.roundRatios).toFixed(2)}) |`,
    );
  }
  return lines.join('\n');
}

const options = {
  quick: { type: 'boolean', default: false },
  repeat: { type: 'string', default: '15' },
  warmup: { type: 'string', default: '2' },
  'settle-ms': { type: 'string', default: '3000' },
  registry: { type: 'string', default: 'distribution' },
  cases: { type: 'string' },
  'no-sha-ext': { type: 'boolean', default: false },
  json: { type: 'string' },
} as const;

async function main(): Promise<void> {
  const { values } = parseArgs({ options });
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat must be a positive integer');
  const warmup = Number(values.warmup);
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error('--warmup must be a whole number');
  settleMs = Number(values['settle-ms']);
  if (!Number.isFinite(settleMs) || settleMs < 0) throw new Error('--settle-ms must be a number of milliseconds');
  let cases = values.quick ? QUICK : FULL;
  if (values.cases !== undefined) {
    const wanted = values.cases.split(',');
    const all = [...FULL, ...QUICK, ...EXTRA];
    const unknown = wanted.filter((w) => !all.some((c) => c.name === w));
    if (unknown.length > 0) throw new Error(`unknown case ${unknown.join(', ')}; known: ${[...new Set(all.map((c) => c.name))].join(', ')}`);
    cases = wanted.map((w) => all.find((c) => c.name === w)!);
  }
  const provider = values.registry === 'embedded' ? embeddedRegistry : distributionRegistry;

  const registry: StartedRegistry = await provider.start({ storage: 'filesystem' });
  const runtimes: Runtime[] = [];
  try {
    const hostsToml = { [registry.host]: `server = "http://${registry.host}"\n` };
    const embedded = await EmbeddedRuntime.start({ label: 'fidelity', hostsToml });
    runtimes.push(embedded);
    const containerd = await ContainerdRuntime.start({ label: 'fidelity', hostsToml });
    runtimes.push(containerd);
    console.error(
      `registry ${registry.version()} at ${registry.url}; containerd ${containerd.daemon.version} (${containerd.daemon.snapshotter}); libuv pool ${process.env.UV_THREADPOOL_SIZE} threads`,
    );
    const hashing = {
      cpuShaExt: await cpuHasShaExt(),
      containerdGo: (await goVersionOfProcess(containerd.daemon.pid)) ?? 'unknown',
      opensslIa32cap: process.env.OPENSSL_ia32cap ?? null,
      embeddedSha256MBps: Math.round(sha256MBps()),
    };
    const peerShaExt = hashing.containerdGo !== 'unknown' && goUsesShaExt(hashing.containerdGo);
    console.error(
      `hashing: CPU ${hashing.cpuShaExt ? 'has' : 'lacks'} SHA extensions; containerd built with ${hashing.containerdGo} (${peerShaExt ? 'uses them' : 'does not use them'}); this process: sha256 ${hashing.embeddedSha256MBps} MB/s${hashing.opensslIa32cap ? `, OPENSSL_ia32cap=${hashing.opensslIa32cap}` : ''}`,
    );
    if (hashing.cpuShaExt && !peerShaExt && hashing.containerdGo !== 'unknown' && !values['no-sha-ext']) {
      console.error('note: this process hashes with the SHA extensions and containerd without them; --no-sha-ext compares like with like');
    }

    // Every process this one starts is started before the first pull (see syncAll).
    await syncAll();
    const rows: FidelityRow[] = [];
    for (const c of cases) {
      const per = Math.floor(c.totalBytes / c.layers);
      const img = synthImage(Array.from({ length: c.layers }, () => per));
      await pushWithClient(registry.url, `fidelity/${c.name}`, 'v1', img);
      const image = `${registry.host}/fidelity/${c.name}:v1`;
      const containerdCpuMs = (): Promise<CpuTime> => processCpuMs(containerd.daemon.pid);
      // Untimed warm-up pulls: the registry's page cache, and code compiled and heaps grown on both sides (with one
      // warm-up, this process's five timed 10 MB pulls took 231, 238, 192, 129 and 148 ms, in that order).
      for (let i = 0; i < warmup; i++) {
        await timedColdPull(embedded, image, ownCpuMs, false);
        await timedColdPull(containerd, image, containerdCpuMs, false);
      }
      const e: Timed[] = [];
      const k: Timed[] = [];
      for (let i = 0; i < repeat; i++) {
        const order: [Runtime, Timed[], () => Promise<CpuTime>][] =
          i % 2 === 0
            ? [
                [embedded, e, ownCpuMs],
                [containerd, k, containerdCpuMs],
              ]
            : [
                [containerd, k, containerdCpuMs],
                [embedded, e, ownCpuMs],
              ];
        for (const [rt, out, cpu] of order) out.push(await timedColdPull(rt, image, cpu, true));
      }
      const ratios = e.map((t, i) => t.ms / k[i]!.ms);
      const interval = medianInterval(ratios);
      const row: FidelityRow = {
        image: c.name,
        bytes: img.contentSize,
        layers: c.layers,
        embeddedMs: e.map((t) => Math.round(t.ms)),
        containerdMs: k.map((t) => Math.round(t.ms)),
        embeddedCpuMs: e.map((t) => Math.round(t.cpuMs)),
        containerdCpuMs: k.map((t) => Math.round(t.cpuMs)),
        embeddedSysMs: e.map((t) => Math.round(t.sysMs)),
        containerdSysMs: k.map((t) => Math.round(t.sysMs)),
        embeddedMedianMs: median(e.map((t) => t.ms)),
        containerdMedianMs: median(k.map((t) => t.ms)),
        roundRatios: ratios,
        ratio: median(ratios),
        ...(interval ? { ratioInterval: interval } : {}),
        ratioOfMedians: median(e.map((t) => t.ms)) / median(k.map((t) => t.ms)),
      };
      rows.push(row);
      console.error(
        `${c.name}: embedded ${row.embeddedMs.join(' ')} ms (CPU ${row.embeddedCpuMs.join(' ')}; system ${row.embeddedSysMs.join(' ')}), containerd ${row.containerdMs.join(' ')} ms (CPU ${row.containerdCpuMs.join(' ')}; system ${row.containerdSysMs.join(' ')}), round ratios ${row.roundRatios.map((r) => r.toFixed(2)).join(' ')}, ratio ${row.ratio.toFixed(2)}${row.ratioInterval ? ` (95% interval ${row.ratioInterval.low.toFixed(2)}-${row.ratioInterval.high.toFixed(2)})` : ''} (of medians ${row.ratioOfMedians.toFixed(2)})`,
      );
    }
    console.log(renderTable(rows));
    const out = rows.filter((r) => r.ratio > 1.1 || r.ratio < 0.9);
    console.error(`within 10% of containerd: ${rows.length - out.length} of ${rows.length} cases${out.length ? ` (not: ${out.map((r) => `${r.image} ${r.ratio.toFixed(2)}`).join(', ')})` : ''}`);
    if (values.json) {
      await writeFile(values.json, JSON.stringify({ environment: environmentInfo(), registry: registry.version(), threadpool: Number(process.env.UV_THREADPOOL_SIZE), hashing, repeat, warmup, settleMs, rows }, null, 2));
    }
  } finally {
    for (const rt of runtimes.reverse()) await rt[Symbol.asyncDispose]();
    await registry[Symbol.asyncDispose]();
  }
}

// OpenSSL reads OPENSSL_ia32cap as the process starts: --no-sha-ext runs the bench again with it set.
const noShaExt = parseArgs({ options, strict: false }).values['no-sha-ext'] === true;
await withThreadpool(noShaExt ? { OPENSSL_ia32cap: NO_SHA_EXT } : {});
await main();
