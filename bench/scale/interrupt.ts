/**
 * Ctrl-C at scale: how long `pullbench run` (the built CLI, as users run it) takes from SIGINT to its exit, and
 * whether it leaves anything in its temp dir or any process behind. One fresh process per trial, a private TMPDIR
 * each; the signal is sent at a moment the run is in (`--at`):
 *
 *   start:   while the nodes start (after the `arm` line), the emulated cluster half built;
 *   rollout: once the rollout runs (its first progress line), pods being created and pulls under way.
 *
 *   npm run build && flock /tmp/pullbench-bench.lock npx tsx bench/scale/interrupt.ts \
 *     [--nodes 5000] [--replicas 100000] [--trials 3] [--at rollout,start] [--after S] [--second-after MS] [--trace] [--cpu-prof DIR]
 *
 * The scenario is scenarios/scale-200.yaml with its node count, one Deployment of --replicas pods of one image
 * (the shape of issue 26's run: 5,000 nodes, 100,000 replicas). --second-after sends a second SIGINT that many
 * ms after the first (a forced exit); --after waits that many seconds past the moment before the first. Prints one line per trial and a summary with the load average.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { listOption, numberOption } from '../options.js';
import { processesWithTmp } from '../../test/helpers/processes.js';

const NODES = numberOption('nodes', 5000);
const REPLICAS = numberOption('replicas', 100_000);
const TRIALS = numberOption('trials', 3);
const AT = listOption('at', ['rollout', 'start']);
// Seconds to wait after that moment, so the rollout is well under way (pods created, pulls in flight, memory grown).
const AFTER_S = process.argv.includes('--after') ? numberOption('after', 1) : 0;
const SECOND = process.argv.includes('--second-after') ? numberOption('second-after', 100) : undefined;
// --trace: the run's own steps from the signal to its exit (PULLBENCH_TRACE_EXIT), in ms after the signal was sent.
const TRACE = process.argv.includes('--trace');
// --cpu-prof DIR: the run's CPU profiles (main thread and workers) into DIR, written at its exit.
const PROF = process.argv.includes('--cpu-prof') ? process.argv[process.argv.indexOf('--cpu-prof') + 1] : undefined;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'bin/run.js');

const READY: Record<string, RegExp> = { start: /^arm \S+ \(1\/1\)$/m, rollout: /^ {2}\S+: \d+\/\d+ ready/m };

interface Trial {
  at: string;
  code: number | null;
  /** From the first SIGINT to the exit. */
  exitMs: number;
  /** From the process's start to the signal. */
  signalAtS: number;
  /** What the run left in its TMPDIR (names). */
  left: string[];
  survivors: number;
  rssMB: number;
  /** The last progress line before the signal. */
  line: string;
}

// The child's threads by name and state (R running, S sleeping, D disk), e.g. "node:R libuv-worker:S*4": what its exit waits for.
function threads(pid: number): string {
  try {
    const counts = new Map<string, number>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const key = `${name}:${stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].sort().map(([k, n]) => (n > 1 ? `${k}*${n}` : k)).join(' ');
  } catch {
    return 'gone';
  }
}

function rssMB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

async function trial(at: string, work: string, n: number): Promise<Trial> {
  const tmp = join(work, `t${n}`);
  mkdirSync(tmp);
  const sets = [`cluster.nodes=${NODES}`, `rollouts=[{name: app, deployment: {image: scale/svc-1:v1, replicas: ${REPLICAS}}}]`, 'outputs.formats=[json]'];
  const t0 = performance.now();
  const child = spawn(process.execPath, [...(PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`] : []), CLI, 'run', join(ROOT, 'scenarios/scale-200.yaml'), '-o', join(work, `out${n}`), ...sets.flatMap((s) => ['--set', s])], {
    cwd: ROOT,
    env: { ...process.env, TMPDIR: tmp, CI: '1', ...(TRACE ? { PULLBENCH_TRACE_EXIT: '1' } : {}) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  try {
    while (!READY[at]!.test(stderr) && child.exitCode === null) await sleep(50);
    if (AFTER_S > 0) await sleep(AFTER_S * 1000);
    if (child.exitCode !== null) throw new Error(`the run ended before the signal (exit ${child.exitCode}):\n${stderr.slice(-1500)}`);
    const rss = rssMB(child.pid!);
    const line = stderr.trim().split('\n').at(-1) ?? '';
    const signalAt = performance.now();
    const signalWall = performance.timeOrigin + signalAt;
    const before = stderr.length;
    child.kill('SIGINT');
    const seen: string[] = [];
    if (TRACE) {
      const poll = setInterval(() => {
        const now = threads(child.pid!);
        if (now !== seen.at(-1)?.split(' ms ')[1]) seen.push(`${(performance.now() - signalAt).toFixed(0).padStart(5)} ms ${now}`);
      }, 20);
      void exited.then(() => clearInterval(poll));
    }
    if (SECOND !== undefined) setTimeout(() => child.kill('SIGINT'), SECOND);
    const code = await exited;
    const exitMs = performance.now() - signalAt;
    if (TRACE) {
      for (const line of seen) console.log(`  threads +${line}`);
      for (const [, at, step] of stderr.slice(before).matchAll(/^\[exit-trace ([\d.]+)\] (.*)$/gm)) console.log(`  +${(Number(at) - signalWall).toFixed(0).padStart(5)} ms ${step}`);
    }
    await sleep(300);
    return { at, code, exitMs, signalAtS: (signalAt - t0) / 1000, left: readdirSync(tmp), survivors: processesWithTmp(tmp).length, rssMB: rss, line };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

const work = mkdtempSync(join(tmpdir(), 'pb-interrupt-bench-'));
const trials: Trial[] = [];
const loadBefore = loadavg();
try {
  let n = 0;
  for (const at of AT) {
    for (let i = 0; i < TRIALS; i++) {
      const t = await trial(at, work, n++);
      trials.push(t);
      console.log(`${at.padEnd(7)} signal at ${t.signalAtS.toFixed(1)} s (RSS ${t.rssMB.toFixed(0)} MB): exit ${t.code} after ${t.exitMs.toFixed(0)} ms; left in TMPDIR ${t.left.length}${t.left.length > 0 ? ` (${t.left.slice(0, 3).join(', ')})` : ''}, processes left ${t.survivors} (after: ${t.line.trim()})`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const loadAfter = loadavg();
for (const at of AT) {
  const ms = trials.filter((t) => t.at === at).map((t) => t.exitMs).sort((a, b) => a - b);
  console.log(`${at}: SIGINT to exit ${ms.map((m) => `${(m / 1000).toFixed(2)} s`).join(', ')} (max ${(ms.at(-1)! / 1000).toFixed(2)} s)`);
}
console.log(`${NODES} nodes, ${REPLICAS} replicas${SECOND !== undefined ? `, second SIGINT after ${SECOND} ms` : ''}; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(2)).join(' ')} after`);
const bad = trials.filter((t) => t.code !== 130 || t.left.length > 0 || t.survivors > 0);
if (bad.length > 0) {
  console.error(`${bad.length} trial(s) did not exit 130 clean`);
  process.exitCode = 1;
}
