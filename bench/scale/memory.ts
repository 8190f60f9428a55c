/**
 * Calibrates the memory estimate (src/run/memory.ts MEMORY_COSTS): peak main-thread heap and peak RSS of
 * `pullbench run` (the built CLI) at a few node and pod counts, sampled every 100 ms in the process itself, and the
 * slopes per node, per pod of the repetition under way and per pod kept in the results.
 *
 *   npm run build && flock /tmp/pullbench-bench.lock npx tsx bench/scale/memory.ts [--nodes 250,1000] [--pods 10000,40000]
 *
 * Runs scenarios/scale-200.yaml (layerStore inflate-only, bytes x0.1) with --ignore-memory-estimate:
 *   nodes: each count of --nodes with one DaemonSet of one image;
 *   pods:  10 nodes, one Deployment of each count of --pods (one image: 10 pulls, the rest pod bookkeeping), then the
 *          first count again with repeat 3 (the same live pods, three times the records).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listOption } from '../options.js';

const NODES = listOption('nodes', ['250', '1000']).map(Number);
const PODS = listOption('pods', ['10000', '40000']).map(Number);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'bin/run.js');
const MB = 1024 * 1024;

const SAMPLER = `import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
if (isMainThread) {
  let heap = 0, rss = 0;
  const sample = () => { const m = process.memoryUsage(); heap = Math.max(heap, m.heapUsed); rss = Math.max(rss, m.rss); };
  setInterval(sample, 100).unref();
  process.on('exit', () => { sample(); writeFileSync(process.env.PB_MEM_OUT, JSON.stringify({ heap, rss })); });
}
`;

interface Peak {
  heap: number;
  rss: number;
}

const work = mkdtempSync(join(tmpdir(), 'pb-memory-bench-'));
const sampler = join(work, 'sampler.mjs');
writeFileSync(sampler, SAMPLER);

function run(label: string, sets: string[]): Promise<Peak> {
  const out = join(work, `${label}.json`);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', sampler, CLI, 'run', join(ROOT, 'scenarios/scale-200.yaml'), '--json', '--ignore-memory-estimate', '-o', join(work, label), '--set', 'outputs.formats=[json]', ...sets.flatMap((s) => ['--set', s])], {
      cwd: ROOT,
      env: { ...process.env, CI: '1', PB_MEM_OUT: out },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => {
      try {
        const peak = JSON.parse(readFileSync(out, 'utf8')) as Peak;
        console.log(`${label.padEnd(24)} exit ${code}  heap ${(peak.heap / MB).toFixed(0)} MB  RSS ${(peak.rss / MB).toFixed(0)} MB  (${((performance.now() - started) / 1000).toFixed(0)} s)`);
        resolve(peak);
      } catch (err) {
        reject(new Error(`${label}: no sample (exit ${code}): ${(err as Error).message}\n${stderr.slice(-1500)}`));
      }
    });
  });
}

const slope = (a: Peak, b: Peak, da: number, db: number): Peak => ({ heap: (b.heap - a.heap) / (db - da), rss: (b.rss - a.rss) / (db - da) });
const kb = (p: Peak): string => `heap ${(p.heap / 1024).toFixed(1)} KB, RSS ${(p.rss / 1024).toFixed(1)} KB`;
try {
  console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const daemonSet = 'rollouts=[{name: svc-1, daemonSet: {image: scale/svc-1:v1}}]';
  const base = await run('base: 1 node, 1 pod', ['cluster.nodes=1', daemonSet]);
  const byNodes = [];
  for (const n of NODES) byNodes.push(await run(`nodes: ${n}`, [`cluster.nodes=${n}`, daemonSet]));
  const deployment = (n: number): string => `rollouts=[{name: app, deployment: {image: scale/svc-1:v1, replicas: ${n}}}]`;
  const byPods = [];
  for (const n of PODS) byPods.push(await run(`pods: ${n}`, ['cluster.nodes=10', deployment(n)]));
  const repeated = await run(`pods: ${PODS[0]} x repeat 3`, ['cluster.nodes=10', deployment(PODS[0]!), 'repeat=3']);
  console.log(`base: heap ${(base.heap / MB).toFixed(0)} MB, RSS ${(base.rss / MB).toFixed(0)} MB`);
  console.log(`per node (${NODES.join(' -> ')}): ${kb(slope(byNodes[0]!, byNodes.at(-1)!, NODES[0]!, NODES.at(-1)!))}`);
  // One repetition: each pod is both under way and recorded.
  console.log(`per pod, live and recorded (${PODS.join(' -> ')}): ${kb(slope(byPods[0]!, byPods.at(-1)!, PODS[0]!, PODS.at(-1)!))}`);
  console.log(`per recorded pod (repeat 1 -> 3 at ${PODS[0]}): ${kb(slope(byPods[0]!, repeated, PODS[0]!, 3 * PODS[0]!))}`);
  console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
