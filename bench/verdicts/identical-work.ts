// Issue 26 acceptance: over 10 runs of the quickstart, the summary and the HTML report never name a
// fastest arm among arms that did identical work. Identical work is judged here from the results'
// own counts (GETs and bytes per repetition), not by the headline code under test.
// Usage: npx tsx bench/verdicts/identical-work.ts [--runs 10] [--keep]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { numberOption } from '../options.js';
import { cli, flag, workDir } from './runs.js';

const RUNS = numberOption('runs', 10);
const dir = workDir('pullbench-identical-', flag('keep'));

interface Arm { arm: { name: string }; aggregate: { pods: number; requests: Record<string, number>; bytes: { registry: number; mirror: number } } }

// Same pods, GETs and bytes per repetition (within half a request or 0.5%): the arms did the same work.
function twins(arms: Arm[]): Map<string, string[]> {
  const work = (a: Arm): number[] => {
    const r = a.aggregate.requests;
    return [a.aggregate.pods, r.registryManifestGet ?? 0, r.registryBlobGet ?? 0, r.mirrorManifestGet ?? 0, r.mirrorBlobGet ?? 0, a.aggregate.bytes.registry, a.aggregate.bytes.mirror];
  };
  const same = (x: number[], y: number[]): boolean => x.every((v, i) => Math.abs(v - y[i]!) <= Math.max(0.5, 0.005 * Math.max(v, y[i]!)));
  return new Map(arms.map((a) => [a.arm.name, arms.filter((b) => b !== a && same(work(a), work(b))).map((b) => b.arm.name)]));
}

// The arms a headline sentence crowns: "X is fastest" or "X, Y tie for fastest".
function crowned(text: string): string[] | undefined {
  const one = /([\w/-]+) is fastest on/.exec(text);
  if (one) return [one[1]!];
  const tie = /((?:[\w/-]+, )*[\w/-]+) tie for fastest on/.exec(text);
  return tie ? tie[1]!.split(', ') : undefined;
}

const rows: string[] = [];
let bad = 0;
for (let i = 1; i <= RUNS; i++) {
  const out = join(dir, `run${i}`);
  const r = await cli(['run', 'scenarios/quickstart.yaml', '-o', out]);
  if (r.code !== 0) throw new Error(`run ${i} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { arms: Arm[] };
  const html = readFileSync(join(out, 'report.html'), 'utf8').replace(/<[^>]+>/g, '');
  const summary = r.stdout.replace(/\n(?=\S)/g, ' ').replace(/\s+/g, ' ');
  const tw = twins(results.arms);
  const problems: string[] = [];
  for (const [where, text] of [['summary', summary], ['report', html]] as const) {
    const top = crowned(text);
    if (!top) continue;
    // Crowning an arm while leaving out a twin that did the same work names a fastest among identical arms.
    for (const arm of top) for (const t of tw.get(arm) ?? []) if (!top.includes(t)) problems.push(`${where} crowns ${arm} but not ${t}, which did identical work`);
  }
  bad += problems.length > 0 ? 1 : 0;
  const headline = /((?:The arms tie|[\w/-]+(?:, [\w/-]+)* (?:is|tie for) fastest)[^.]*\.)/.exec(summary)?.[1] ?? '(no headline)';
  rows.push(`run ${String(i).padStart(2)}: ${problems.length === 0 ? 'ok ' : 'BAD'} ${headline}${problems.length ? `\n         ${problems.join('\n         ')}` : ''}`);
  console.error(rows[rows.length - 1]);
}
console.log(rows.join('\n'));
console.log(`\n${RUNS - bad} of ${RUNS} runs name no fastest arm among arms that did identical work; target ${RUNS} of ${RUNS}: ${bad === 0 ? 'met' : 'NOT met'}`);
process.exitCode = bad === 0 ? 0 : 1;
