// The model against live emulation, and what the model costs as it grows (docs/model.md).
//
//   npx tsx bench/model/run.ts --nodes 50,200            validation: live (3 repetitions, under flock) and modelled, per arm
//   npx tsx bench/model/run.ts --cost 1000,5000,10000,50000 --nodes none   cost growth of scenarios/scale-10k-model.yaml
//
// Every figure comes from `pullbench run` (bin/run.js, built): the live side as users run it, the model likewise with
// --set cluster.driver=model. The live runs take /tmp/pullbench-bench.lock, as the machine is shared.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { percentile } from '../../src/measure/stats.js';
import type { RunResults } from '../../src/results/model.js';
import { listOption } from '../options.js';

const root = resolve(import.meta.dirname, '../..');
const out = resolve(listOption('out', ['reports/model-bench'])[0]!);
const nodeCounts = listOption('nodes', ['50', '200']).filter((n) => n !== 'none').map(Number);
const costCounts = listOption('cost', []).map(Number);
const scenario = join(root, 'bench/model/validation.yaml');

function pullbench(args: string[], lock: boolean): { wallMs: number; rssMb?: number; cpuS?: number } {
  const cmd = ['/usr/bin/time', '-f', '%e %M %U %S', process.execPath, join(root, 'bin/run.js'), 'run', ...args];
  const argv = lock ? ['flock', '/tmp/pullbench-bench.lock', ...cmd] : cmd;
  const t0 = Date.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
  const last = r.stderr.trim().split('\n').at(-1) ?? '';
  const [, rss, user, sys] = last.split(' ').map(Number);
  if (r.status !== 0 && r.status !== 3 && r.status !== 5) {
    console.error(r.stderr.slice(-2000));
    throw new Error(`pullbench run ${args.join(' ')} exited ${r.status}`);
  }
  return { wallMs: Date.now() - t0, ...(rss ? { rssMb: rss / 1024, cpuS: user! + sys! } : {}) };
}

const results = (dir: string): RunResults => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResults;

interface Figures {
  p50: number;
  p95: number;
  rollout: number;
}

function perRepetition(r: RunResults, arm: string): Figures[] {
  const a = r.arms.find((x) => x.arm.name === arm)!;
  return a.repetitions.map((rep) => {
    const pulls = rep.pods.filter((p) => p.pullMs !== undefined).map((p) => p.pullMs!);
    return { p50: percentile(pulls, 50), p95: percentile(pulls, 95), rollout: rep.rolloutDurationMs };
  });
}

const s = (ms: number): string => (ms / 1000).toFixed(2);

function validate(nodes: number): void {
  const liveDir = join(out, `live-${nodes}`);
  const modelDir = join(out, `model-${nodes}`);
  const live = pullbench([scenario, '--set', `cluster.nodes=${nodes}`, '-o', liveDir], true);
  const model = pullbench([scenario, '--set', `cluster.nodes=${nodes}`, '--set', 'cluster.driver=model', '--set', 'repeat=1', '-o', modelDir], false);
  const lr = results(liveDir);
  const mr = results(modelDir);
  console.log(`\n${nodes} nodes (live ${s(live.wallMs)} s wall for ${lr.arms[0]!.repetitions.length} repetitions per arm; model ${s(model.wallMs)} s)`);
  console.log('| arm | metric | live mean (min-max of 3) | model | model / live |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const arm of lr.arms.map((a) => a.arm.name)) {
    const l = perRepetition(lr, arm);
    const m = perRepetition(mr, arm)[0]!;
    for (const metric of ['p50', 'p95', 'rollout'] as const) {
      const xs = l.map((f) => f[metric]);
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const ratio = m[metric] / mean;
      const mark = Math.abs(ratio - 1) <= 0.1 ? 'within 10%' : 'OUT';
      console.log(`| ${arm} | ${metric === 'rollout' ? 'rollout' : `pull ${metric}`} | ${s(mean)} s (${s(Math.min(...xs))}-${s(Math.max(...xs))}) | ${s(m[metric])} s | ${ratio.toFixed(2)} ${mark} |`);
    }
  }
}

function cost(nodes: number): void {
  const dir = join(out, `cost-${nodes}`);
  const r = pullbench([join(root, 'scenarios/scale-10k-model.yaml'), '--set', `cluster.nodes=${nodes}`, '-o', dir], false);
  const rep = results(dir).arms[0]!.repetitions[0]!;
  console.log(`| ${nodes.toLocaleString('en')} | ${rep.pods.length.toLocaleString('en')} | ${s(rep.rolloutDurationMs)} s | ${s(r.wallMs)} s | ${r.cpuS?.toFixed(1)} s | ${r.rssMb?.toFixed(0)} MB |`);
}

mkdirSync(out, { recursive: true });
for (const n of nodeCounts) validate(n);
if (costCounts.length > 0) {
  console.log('\n| nodes | pods | virtual rollout | wall | CPU (user+sys) | peak RSS |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const n of costCounts) cost(n);
}
