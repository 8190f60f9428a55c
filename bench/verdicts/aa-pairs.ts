// The gate on a shared runner (issue 26 acceptance): ordered A/A pairs of the quickstart where one run of
// each pair shared the machine with a CPU-bound process on one core must never exit 4; the same pairs with
// the current side's registry link slowed by a third must exit 4 in at least 18 of 20.
// Usage: npx tsx bench/verdicts/aa-pairs.ts [--quiet 5] [--loaded 2] [--keep]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { numberOption } from '../options.js';
import { cli, flag, startBurner, stopBurner, workDir } from './runs.js';

const QUIET = numberOption('quiet', 5);
const LOADED = numberOption('loaded', 2);
const keep = flag('keep');
const dir = workDir('pullbench-aa-', keep);

// "Slowed by a third": the per-node link and the shared uplink both carry 2/3 of the quickstart's rate
// (400Mbit and 1Gbit), so the transfer takes 1.5x as long whichever of them is the bottleneck.
const SLOW = ['--set', 'links.registry.bandwidth=267Mbit', '--set', 'links.registry.sharedUplink=667Mbit'];

interface Run { name: string; file: string; load: string }

async function run(name: string, opts: { loaded: boolean; slowed: boolean }): Promise<Run> {
  const out = join(dir, name);
  const burner = opts.loaded ? startBurner(0) : undefined;
  try {
    const r = await cli(['run', 'scenarios/quickstart.yaml', '-o', out, ...(opts.slowed ? SLOW : [])]);
    if (r.code !== 0) throw new Error(`run ${name} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  } finally {
    if (burner) await stopBurner(burner);
  }
  const env = (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { environment: { conditions?: { cpu?: { otherCores: number }; loadAverage: { after: number[] } } } }).environment;
  const load = `other ${env.conditions?.cpu?.otherCores.toFixed(2) ?? '?'} cores, load ${env.conditions?.loadAverage.after[0]?.toFixed(2) ?? '?'}`;
  console.error(`${name}: done (${load})`);
  return { name, file: join(out, 'results.json'), load };
}

// Interleaved so that a drift of the machine over the bench lands on both kinds of run.
const quiet: Run[] = [];
const quietSlow: Run[] = [];
const loaded: Run[] = [];
const loadedSlow: Run[] = [];
for (let i = 0; i < Math.max(QUIET, LOADED); i++) {
  if (i < QUIET) quiet.push(await run(`Q${i + 1}`, { loaded: false, slowed: false }));
  if (i < LOADED) loaded.push(await run(`L${i + 1}`, { loaded: true, slowed: false }));
  if (i < QUIET) quietSlow.push(await run(`Q${i + 1}-slow`, { loaded: false, slowed: true }));
  if (i < LOADED) loadedSlow.push(await run(`L${i + 1}-slow`, { loaded: true, slowed: true }));
}

// Every quiet run against every loaded run, in both orders; in the slowed set the current side (the second) is slowed.
const aa: Array<[Run, Run]> = [];
const slowed: Array<[Run, Run]> = [];
for (let q = 0; q < QUIET; q++) {
  for (let l = 0; l < LOADED; l++) {
    aa.push([quiet[q]!, loaded[l]!], [loaded[l]!, quiet[q]!]);
    slowed.push([quiet[q]!, loadedSlow[l]!], [loaded[l]!, quietSlow[q]!]);
  }
}

async function judge(pairs: Array<[Run, Run]>): Promise<Array<{ pair: string; code: number; verdict: string; env: string }>> {
  const rows = [];
  for (const [b, c] of pairs) {
    const r = await cli(['compare', b.file, c.file]);
    const first = r.stdout.split('\n')[0] ?? '';
    const env = /^environment: the (\w+ ?\w*) ran on a busier machine/m.exec(r.stdout)?.[1] ?? (r.stdout.includes('environment:') ? 'see output' : 'similar');
    rows.push({ pair: `${b.name} -> ${c.name}`, code: r.code, verdict: first.split(':')[0] ?? '', env: env === 'similar' ? 'similar' : `${env} busier` });
  }
  return rows;
}

const aaRows = await judge(aa);
const slowRows = await judge(slowed);
const pad = (s: string, n: number): string => s.padEnd(n);
console.log(`${pad('A/A pair (baseline -> current)', 32)}${pad('exit', 6)}${pad('verdict', 14)}environment   || ${pad('slowed pair', 26)}${pad('exit', 6)}${pad('verdict', 14)}environment`);
for (let i = 0; i < aaRows.length; i++) {
  const a = aaRows[i]!;
  const s = slowRows[i]!;
  console.log(`${pad(a.pair, 32)}${pad(String(a.code), 6)}${pad(a.verdict, 14)}${pad(a.env, 14)}|| ${pad(s.pair, 26)}${pad(String(s.code), 6)}${pad(s.verdict, 14)}${s.env}`);
}
const count = (rows: typeof aaRows, code: number): number => rows.filter((r) => r.code === code).length;
const codes = (rows: typeof aaRows): string => [...new Set(rows.map((r) => r.code))].sort((x, y) => x - y).map((c) => `${count(rows, c)}x exit ${c}`).join(', ');
const aaOk = count(aaRows, 4) === 0;
const slowOk = count(slowRows, 4) >= Math.ceil(slowRows.length * 0.9);
console.log(`\nruns: ${[...quiet, ...loaded, ...quietSlow, ...loadedSlow].map((r) => `${r.name} (${r.load})`).join('; ')}`);
console.log(`A/A pairs: ${codes(aaRows)}; target: none exits 4: ${aaOk ? 'met' : 'NOT met'}`);
console.log(`slowed pairs: ${codes(slowRows)}; target: at least ${Math.ceil(slowRows.length * 0.9)} of ${slowRows.length} exit 4: ${slowOk ? 'met' : 'NOT met'}`);
if (keep) console.log(`results kept in ${dir}`);
process.exitCode = aaOk && slowOk ? 0 : 1;
