/**
 * How far the emulation goes on this machine. Two measurements, each a fresh
 * `pullbench run` process on scenarios/scale-200.yaml (10 images rolled out as 10
 * DaemonSets, bytes scaled x0.1, real HTTP to the embedded registry over shaped links):
 *
 *  1. the 200-node / 2,000-pod rollout: wall time, rollout time, peak RSS, CPU and RSS per node;
 *  2. the largest node count whose 10-image rollout completes (every pod ready) within the
 *     budget (60 s): doubling from --start up to --max, then --bisect halvings.
 *
 * The figures are absolute (no real peer: a containerd per node does not scale to
 * hundreds of nodes on one machine); the search is reported against its budget.
 *
 *   npx tsx bench/scale/run.ts [--nodes 200] [--start 100] [--max 1000] [--bisect 2]
 *                              [--budget 60] [--bytes 0.1] [--workers N] [--skip-fixed] [--skip-search]
 *
 * Quick check: --nodes 20 --start 20 --max 40 --bisect 1. Full size takes about 10 minutes.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunResults } from '../../src/results/index.js';
import { numberOption } from '../options.js';

const NODES = numberOption('nodes', 200);
const START = numberOption('start', 100);
const MAX = numberOption('max', 1000);
const BISECT = numberOption('bisect', 2);
const BUDGET_S = numberOption('budget', 60);
const BYTES = numberOption('bytes', 0.1);
// Worker threads for the nodes' runtimes (PULLBENCH_EMULATION_WORKERS); absent: pullbench's automatic choice.
const WORKERS = process.argv.includes('--workers') ? numberOption('workers', 1) : undefined;
const SKIP_FIXED = process.argv.includes('--skip-fixed');
const SKIP_SEARCH = process.argv.includes('--skip-search');
const devJs = fileURLToPath(new URL('../../bin/dev.js', import.meta.url));
const scenario = fileURLToPath(new URL('../../scenarios/scale-200.yaml', import.meta.url));

interface Trial {
  nodes: number;
  pods: number;
  /** The whole process: start-up, registry, seeding, node start, rollout, teardown. */
  wallS: number;
  rolloutS?: number;
  completed: boolean;
  failedPods: number;
  peakRssMB?: number;
  cpuPerNodeMs?: number;
  rssPerNodeMB?: number;
  cores?: number;
  loopDelayP99Ms?: number;
  openFdsPeak?: number;
  pullP50S?: number;
  pullP95S?: number;
  note?: string;
}

// One fresh process per trial: peak RSS and the event loop belong to that rollout only.
async function trial(nodes: number, killAfterS: number): Promise<Trial> {
  const out = await mkdtemp(join(tmpdir(), 'pb-scale-'));
  const t0 = performance.now();
  try {
    const args = ['--import', 'tsx', devJs, 'run', scenario, '--json', '-o', out, '--set', `cluster.nodes=${nodes}`, '--set', `scale.bytes=${BYTES}`, '--set', 'outputs.formats=[json]'];
    const stdout = await new Promise<string>((resolve, reject) => {
      const env = { ...process.env };
      if (WORKERS === undefined) delete env.PULLBENCH_EMULATION_WORKERS;
      else env.PULLBENCH_EMULATION_WORKERS = String(WORKERS);
      execFile(process.execPath, args, { env, maxBuffer: 1 << 30, timeout: killAfterS * 1000, killSignal: 'SIGINT' }, (err, so, se) => {
        // Exit codes 3/5 (threshold, failure rate) still print results.
        if (err && !so.trim().startsWith('{')) reject(new Error(`${err.message}\n${se.slice(-2000)}`));
        else resolve(so);
      });
    });
    const wallS = (performance.now() - t0) / 1000;
    const r = JSON.parse(stdout) as RunResults;
    const arm = r.arms[0]!;
    const a = arm.aggregate;
    const rep = arm.repetitions[0]!;
    const u = a.usage;
    return {
      nodes, pods: a.pods, wallS, rolloutS: rep.rolloutDurationMs / 1000,
      completed: rep.steps.every((s) => s.completed) && a.failures.total === 0, failedPods: a.failures.total,
      ...(u ? { peakRssMB: u.rssPeakBytes / 1e6, cpuPerNodeMs: u.cpuPerNodeMs, rssPerNodeMB: u.rssPerNodeBytes / 1e6, cores: u.cpuCores, loopDelayP99Ms: u.eventLoopDelayP99Ms } : {}),
      ...(u?.openFdsPeak !== undefined ? { openFdsPeak: u.openFdsPeak } : {}),
      ...(a.pull ? { pullP50S: a.pull.p50 / 1000, pullP95S: a.pull.p95 / 1000 } : {}),
    };
  } catch (err) {
    const wallS = (performance.now() - t0) / 1000;
    return { nodes, pods: nodes * 10, wallS, completed: false, failedPods: 0, note: wallS >= killAfterS ? `stopped after ${killAfterS} s` : (err as Error).message.split('\n')[0]! };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

const fmt = (v: number | undefined, digits = 1): string => (v === undefined ? '-' : v.toFixed(digits));
function row(t: Trial): string {
  return [t.nodes, t.pods, fmt(t.wallS), fmt(t.rolloutS), t.completed ? 'yes' : `no${t.failedPods ? ` (${t.failedPods} failed)` : ''}`, fmt(t.pullP50S, 2), fmt(t.pullP95S, 2), fmt(t.peakRssMB, 0), fmt(t.cpuPerNodeMs, 0), fmt(t.rssPerNodeMB, 2), fmt(t.cores, 2), fmt(t.loopDelayP99Ms, 0), t.openFdsPeak ?? '-', t.note ?? '']
    .map(String).join(' | ');
}
const HEAD = 'nodes | pods | wall s | rollout s | completed | pull p50 s | p95 s | peak RSS MB | CPU/node ms | RSS/node MB | cores | loop p99 ms | fds | note';

const within = (t: Trial): boolean => t.completed && (t.rolloutS ?? Infinity) <= BUDGET_S;
// Generous: node start and seeding come before the rollout, and a failing size should still report.
const killAfter = (nodes: number): number => BUDGET_S * 3 + 30 + nodes / 10;

console.log(`pullbench bench/scale: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}, Node ${process.version}, bytes x${BYTES}, runtime workers ${WORKERS ?? 'auto (from 100 nodes: one per core up to 4, one per 250 nodes up to 8)'}`);
console.log('figures are absolute (no real peer); peak RSS is sampled every 250 ms by the run itself\n');

if (!SKIP_FIXED) {
  console.log(`## ${NODES} nodes, 10 images (${NODES * 10} pods)\n\n${HEAD}`);
  console.log(row(await trial(NODES, killAfter(NODES) * 2)));
  console.log();
}

if (!SKIP_SEARCH) {
  console.log(`## largest node count whose 10-image rollout completes within ${BUDGET_S} s\n\n${HEAD}`);
  const trials: Trial[] = [];
  const run = async (n: number): Promise<Trial> => {
    const t = await trial(n, killAfter(n));
    trials.push(t);
    console.log(row(t));
    return t;
  };
  let pass: Trial | undefined;
  let fail: Trial | undefined;
  for (let n = Math.min(START, MAX); ; n = Math.min(n * 2, MAX)) {
    const t = await run(n);
    if (within(t)) pass = t;
    else {
      fail = t;
      break;
    }
    if (n >= MAX) break;
  }
  for (let i = 0; i < BISECT && pass && fail && fail.nodes - pass.nodes > 10; i++) {
    const t = await run(Math.round((pass.nodes + fail.nodes) / 2));
    if (within(t)) pass = t;
    else fail = t;
  }
  console.log();
  if (pass) {
    console.log(`largest: ${pass.nodes} nodes (${pass.pods} pods) in ${fmt(pass.rolloutS)} s = ${fmt((pass.rolloutS ?? 0) / BUDGET_S, 2)} of the ${BUDGET_S} s budget${fail ? `; ${fail.nodes} nodes: ${fail.completed ? `${fmt(fail.rolloutS)} s` : 'did not complete'} (${fmt((fail.rolloutS ?? NaN) / BUDGET_S, 2)} of the budget)` : ` (the search stopped at --max ${MAX})`}`);
  } else {
    console.log(`no size within the budget: ${START} nodes took ${fmt(fail?.rolloutS)} s`);
  }
}
