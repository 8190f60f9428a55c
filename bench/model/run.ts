// The model against live emulation, and what the model costs as it grows (docs/model.md).
//
//   npx tsx bench/model/run.ts --nodes 50,200,1000                 validation: live (3 repetitions, under flock) and modelled, per arm
//   npx tsx bench/model/run.ts --nodes 200 --reuse-live            the model again against live results already in --out
//   npx tsx bench/model/run.ts --nodes 50 --scenario bench/model/validation-p2p.yaml   the P2P rows (whole-blob and pieces)
//   npx tsx bench/model/run.ts --nodes none --cost 1000,5000,10000,50000   cost growth of scenarios/scale-10k-model.yaml
//   --out DIR (default reports/model-bench); --no-lock: run without the bench lock (a look, not a quiet figure);
//   --live-set k=v,...: --set overrides for the live runs only; --set k=v,...: for both sides (the regime validated, e.g.
//   links.registry.sharedUplink=500Mbit,links.mirror.sharedUplink=500Mbit: a network-bound rollout, not a CPU-bound one)
//
// Every figure comes from `pullbench run` (bin/run.js, built): the live side as users run it, the model likewise with
// --set cluster.driver=model. Every run takes /tmp/pullbench-bench.lock, as the machine is shared; the load average at
// its start and end is printed with it, since wall time on a loaded machine measures the machine. Tables are printed
// and written to --out (validation-<nodes>.md, cost.md).
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { percentile } from '../../src/measure/stats.js';
import type { RunResults } from '../../src/results/model.js';
import { listOption } from '../options.js';

const root = resolve(import.meta.dirname, '../..');
const out = resolve(listOption('out', ['reports/model-bench'])[0]!);
const nodeCounts = listOption('nodes', ['50', '200']).filter((n) => n !== 'none').map(Number);
const costCounts = listOption('cost', []).map(Number);
const reuseLive = process.argv.includes('--reuse-live');
// Without the lock (--no-lock): a look while another bench holds it; not a figure to report as measured quietly.
const lock = process.argv.includes('--no-lock') ? [] : ['flock', '/tmp/pullbench-bench.lock'];
// --scenario FILE: another validation scenario (bench/model/validation-p2p.yaml: the P2P rows); tables are named after it.
const scenario = resolve(listOption('scenario', [join(root, 'bench/model/validation.yaml')])[0]!);
const tag = scenario.endsWith('/validation.yaml') ? '' : `${scenario.slice(scenario.lastIndexOf('/') + 1).replace(/\.yaml$/, '').replace(/^validation-/, '')}-`;
// --live-set a=b,c=d: overrides for the live runs only, e.g. cluster.layerStore=inflate-only (cheaper nodes; the model refuses it).
const bothSets = listOption('set', []).flatMap((kv) => ['--set', kv]);
const liveSets = [...bothSets, ...listOption('live-set', []).flatMap((kv) => ['--set', kv])];

interface Measured {
  wallMs: number;
  rssMb?: number;
  cpuS?: number;
  load: string;
}

const load = (): string => loadavg()[0]!.toFixed(1);

function pullbench(args: string[], env: Record<string, string> = {}): Measured {
  const cmd = [...lock, '/usr/bin/time', '-f', '%e %M %U %S', process.execPath, join(root, 'bin/run.js'), 'run', ...args];
  const before = load();
  const t0 = Date.now();
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26, env: { ...process.env, ...env } });
  const wallMs = Date.now() - t0;
  const last = r.stderr.trim().split('\n').at(-1) ?? '';
  const [, rss, user, sys] = last.split(' ').map(Number);
  if (r.status !== 0 && r.status !== 3 && r.status !== 5) {
    console.error(r.stderr.slice(-2000));
    throw new Error(`pullbench run ${args.join(' ')} exited ${r.status}`);
  }
  return { wallMs, load: `${before}-${load()}`, ...(rss ? { rssMb: rss / 1024, cpuS: user! + sys! } : {}) };
}

const results = (dir: string): RunResults => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResults;

interface Figures {
  p50: number;
  p95: number;
  rollout: number;
  /** Live: CPU ms the process spent over the rollout (usage.cpu.totalMs): the emulator's own work, which the model leaves out. */
  cpuMs?: number;
}

function perRepetition(r: RunResults, arm: string): Figures[] {
  const a = r.arms.find((x) => x.arm.name === arm)!;
  return a.repetitions.map((rep) => {
    const pulls = rep.pods.filter((p) => p.pullMs !== undefined).map((p) => p.pullMs!);
    return { p50: percentile(pulls, 50), p95: percentile(pulls, 95), rollout: rep.rolloutDurationMs, ...(rep.usage ? { cpuMs: rep.usage.cpu.totalMs } : {}) };
  });
}

const s = (ms: number): string => (ms / 1000).toFixed(2);

function table(file: string, lines: string[]): void {
  console.log(lines.join('\n'));
  writeFileSync(join(out, file), `${lines.join('\n')}\n`);
}

function validate(nodes: number): void {
  const liveDir = join(out, `live-${tag}${nodes}`);
  const modelDir = join(out, `model-${tag}${nodes}`);
  const reused = reuseLive && existsSync(join(liveDir, 'results.json'));
  const live = reused ? undefined : pullbench([scenario, '--set', `cluster.nodes=${nodes}`, ...liveSets, '-o', liveDir]);
  // As many modelled repetitions as live ones: each draws its own seeds (a P2P arm's scheduler and peer choices are
  // random, so one modelled repetition is one sample of a spread); without randomness they are identical.
  const model = pullbench([scenario, '--set', `cluster.nodes=${nodes}`, ...bothSets, '--set', 'cluster.driver=model', '-o', modelDir]);
  const lr = results(liveDir);
  const mr = results(modelDir);
  const lines = [
    `${nodes} nodes, cold. Live: ${lr.arms[0]!.repetitions.length} repetitions per arm, ${live ? `${s(live.wallMs)} s wall, load average ${live.load}` : `reused from ${lr.finishedAt}`}; model: ${s(model.wallMs)} s wall, load average ${model.load}.`,
    '',
    '| arm | metric | live mean (min-max of 3) | model mean (min-max of 3) | model / live | live CPU per rollout |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const arm of lr.arms.map((a) => a.arm.name)) {
    const l = perRepetition(lr, arm);
    const m = perRepetition(mr, arm);
    const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const modelRollout = meanOf(m.map((f) => f.rollout));
    // The live process's CPU alone, on one core, takes longer than the whole rollout the model predicts: the live run
    // measures the emulator's CPU, not the network and registry the model is about (docs/model.md).
    const cpu = l.map((f) => f.cpuMs).filter((c): c is number => c !== undefined);
    const cpuMean = cpu.length > 0 ? meanOf(cpu) : undefined;
    const busy = cpuMean === undefined ? '-' : `${s(cpuMean)} s${cpuMean > modelRollout ? ' (CPU-bound)' : ''}`;
    for (const metric of ['p50', 'p95', 'rollout'] as const) {
      const xs = l.map((f) => f[metric]);
      const ms = m.map((f) => f[metric]);
      const ratio = meanOf(ms) / meanOf(xs);
      const mark = Math.abs(ratio - 1) <= 0.1 ? 'within 10%' : 'OUT';
      const range = (v: number[]): string => `${s(meanOf(v))} s (${s(Math.min(...v))}-${s(Math.max(...v))})`;
      lines.push(`| ${arm} | ${metric === 'rollout' ? 'rollout' : `pull ${metric}`} | ${range(xs)} | ${range(ms)} | ${ratio.toFixed(2)} ${mark} | ${busy} |`);
    }
  }
  table(`validation-${tag}${nodes}.md`, lines);
}

function cost(nodes: number): void {
  const dir = join(out, `cost-${nodes}`);
  // Old space sized for the largest runs; the 4 GB target is read from the peak RSS column.
  const r = pullbench([join(root, 'scenarios/scale-10k-model.yaml'), '--set', `cluster.nodes=${nodes}`, '-o', dir], { NODE_OPTIONS: '--max-old-space-size=16000' });
  const rep = results(dir).arms[0]!.repetitions[0]!;
  const line = `| ${nodes.toLocaleString('en')} | ${rep.pods.length.toLocaleString('en')} | ${s(rep.rolloutDurationMs)} s | ${s(r.wallMs)} s | ${r.cpuS?.toFixed(1)} s | ${r.rssMb?.toFixed(0)} MB | ${r.load} |`;
  console.log(line);
  appendFileSync(join(out, 'cost.md'), `${line}\n`);
}

mkdirSync(out, { recursive: true });
for (const n of nodeCounts) validate(n);
if (costCounts.length > 0) {
  const head = ['| nodes | pods (= pulls) | virtual rollout | wall | CPU (user+sys) | peak RSS | load average (start-end) |', '| --- | --- | --- | --- | --- | --- | --- |'];
  table('cost.md', head);
  for (const n of costCounts) cost(n);
}
