/**
 * Fidelity benchmark: pull latency of the same images by the embedded runtime
 * and by a real containerd, from the same registry, in the same run.
 *
 *   npx tsx bench/fidelity/run.ts [--quick] [--cases name,...] [--repeat N] [--registry distribution|embedded] [--json out.json]
 *
 * Every pull is cold (the image and its content are removed between pulls);
 * runtimes alternate so drift on a shared machine hits both alike. Reports the
 * median per image and the ratio embedded / containerd (target: within 10%).
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Runtime } from '../../src/node/runtime.js';
import { ContainerdRuntime } from '../../src/node/runtimes/containerd.js';
import { EmbeddedRuntime } from '../../src/node/runtimes/embedded.js';
import { distributionRegistry, embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { environmentInfo } from '../../src/util/environment.js';
import { pushWithClient, synthImage } from '../../test/node/helpers/images.js';

const MB = 1024 * 1024;

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
  embeddedMedianMs: number;
  containerdMedianMs: number;
  /** embedded median / containerd median */
  ratio: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function timedColdPull(rt: Runtime, image: string): Promise<number> {
  await rt.removeImage(image);
  const t0 = performance.now();
  await rt.pullImage(image);
  const ms = performance.now() - t0;
  await rt.removeImage(image);
  return ms;
}

/** Renders the rows as a Markdown table (pure; used for the README and stdout). */
export function renderTable(rows: FidelityRow[]): string {
  const lines = [
    '| image | size | layers | embedded (median ms) | containerd (median ms) | ratio |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.image} | ${(r.bytes / MB).toFixed(0)} MB | ${r.layers} | ${r.embeddedMedianMs.toFixed(0)} | ${r.containerdMedianMs.toFixed(0)} | ${r.ratio.toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      repeat: { type: 'string', default: '3' },
      registry: { type: 'string', default: 'distribution' },
      cases: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat must be a positive integer');
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
    console.error(`registry ${registry.version()} at ${registry.url}; containerd ${containerd.daemon.version} (${containerd.daemon.snapshotter})`);

    const rows: FidelityRow[] = [];
    for (const c of cases) {
      const per = Math.floor(c.totalBytes / c.layers);
      const img = synthImage(Array.from({ length: c.layers }, () => per));
      await pushWithClient(registry.url, `fidelity/${c.name}`, 'v1', img);
      const image = `${registry.host}/fidelity/${c.name}:v1`;
      // one untimed warm-up pull each (connection setup, page cache)
      await timedColdPull(embedded, image);
      await timedColdPull(containerd, image);
      const e: number[] = [];
      const k: number[] = [];
      for (let i = 0; i < repeat; i++) {
        const order: [Runtime, number[]][] = i % 2 === 0 ? [[embedded, e], [containerd, k]] : [[containerd, k], [embedded, e]];
        for (const [rt, out] of order) out.push(await timedColdPull(rt, image));
      }
      const row: FidelityRow = {
        image: c.name,
        bytes: img.contentSize,
        layers: c.layers,
        embeddedMs: e.map(Math.round),
        containerdMs: k.map(Math.round),
        embeddedMedianMs: median(e),
        containerdMedianMs: median(k),
        ratio: median(e) / median(k),
      };
      rows.push(row);
      console.error(`${c.name}: embedded ${row.embeddedMedianMs.toFixed(0)} ms, containerd ${row.containerdMedianMs.toFixed(0)} ms, ratio ${row.ratio.toFixed(2)}`);
    }
    console.log(renderTable(rows));
    if (values.json) {
      await writeFile(values.json, JSON.stringify({ environment: environmentInfo(), registry: registry.version(), repeat, rows }, null, 2));
    }
  } finally {
    for (const rt of runtimes.reverse()) await rt[Symbol.asyncDispose]();
    await registry[Symbol.asyncDispose]();
  }
}

await main();
