// Issue 22's acceptance: per-pool figures in a two-pool run equal the figures of each pool run alone, within noise.
// Runs bench/pools/two-pools.yaml through `pullbench run` (3 repetitions), then each pool alone (the same file with
// cluster.pools set to that pool only), and judges each pool's figures as `pullbench compare` does: the alone run is
// the baseline, the pool's rows of the two-pool run the current side (two-stage bootstrap, the metric's tolerance).
// Usage: npx tsx bench/pools/together-vs-alone.ts [--repeat 3] [--keep]      (take /tmp/pullbench-bench.lock around it)
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { compareResults, formatValue, type MetricComparison } from '../../src/compare/index.js';
import type { RunResults } from '../../src/results/index.js';
import { numberOption } from '../options.js';
import { cli, flag, ROOT, workDir } from '../verdicts/runs.js';

const REPEAT = numberOption('repeat', 3);
const SCENARIO = 'bench/pools/two-pools.yaml';
const dir = workDir('pullbench-pools-', flag('keep'));
const pools = (parse(readFileSync(join(ROOT, SCENARIO), 'utf8')) as { cluster: { pools: Array<{ name: string }> } }).cluster.pools;
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');

async function run(name: string, set: string[]): Promise<RunResults> {
  const out = join(dir, name);
  const started = Date.now();
  const r = await cli(['run', SCENARIO, '-o', out, '--set', `repeat=${REPEAT}`, ...set.flatMap((s) => ['--set', s])]);
  if (r.code !== 0) throw new Error(`run ${name} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  console.error(`${name}: ${((Date.now() - started) / 1000).toFixed(0)} s, load average ${load()}`);
  return JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as RunResults;
}

console.error(`load average at the start: ${load()}`);
const together = await run('together', []);
const rows: MetricComparison[] = [];
for (const pool of pools) {
  // JSON is YAML: the pool exactly as the file declares it, alone.
  const alone = await run(`${pool.name}-alone`, [`cluster.pools=[${JSON.stringify(pool)}]`]);
  rows.push(...compareResults(alone, together).metrics.filter((m) => m.pool === pool.name));
}

const pct = (m: MetricComparison): string => (m.relative === undefined ? '-' : m.unit === 'ratio' ? `${((m.delta ?? 0) * 100).toFixed(1)} pp` : `${(m.relative * 100).toFixed(1)}%`);
const bound = (m: MetricComparison, x: number): string => (m.unit === 'ratio' ? `${(x * 100).toFixed(1)} pp` : formatValue(m.unit, x));
const ci = (m: MetricComparison): string => (m.ci ? `[${bound(m, m.ci.low)}, ${bound(m, m.ci.high)}]` : '-');
const table = [['pool', 'metric', 'alone', 'together', 'change', '95% CI of difference', 'verdict'], ...rows.map((m) => [m.pool!, m.label, formatValue(m.unit, m.baseline), formatValue(m.unit, m.current), pct(m), ci(m), m.verdict])];
const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
console.log(table.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n'));
const differ = rows.filter((m) => m.verdict === 'regressed' || m.verdict === 'improved');
console.log(`\n${REPEAT} repetitions a run; load average at the end ${load()}. ${differ.length === 0 ? 'Every pool figure of the two-pool run equals the pool alone within noise.' : `Differ beyond noise and tolerance: ${differ.map((m) => `${m.pool} ${m.label}`).join(', ')}.`}`);
process.exitCode = differ.length === 0 ? 0 : 4;
