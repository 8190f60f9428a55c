import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PullbenchError } from '../errors.js';
import { pooled, seedOf } from '../measure/bootstrap.js';
import { percentileSorted } from '../measure/stats.js';
import { formatValue, type CompareMetric, type MetricUnit, type RunResults } from '../results/index.js';
import { changePoints, type ChangePointOptions } from './change-points.js';
import { incomparability } from './compare.js';
import { BUSIER_CORES, machineLoad } from './environment.js';
import { COMPARE_METRICS, METRICS, type Tolerances } from './metrics.js';

/** One results file of a nightly series. */
export interface HistoryRun {
  file: string;
  results: RunResults;
}

export interface HistoryChange {
  /** The first run at the new level. */
  index: number;
  file: string;
  startedAt: string;
  /** Medians of the per-run values before and after (to the neighbouring change points). */
  before: number;
  after: number;
  /** (after - before) / before; percentage points for failureRate. */
  change: number;
  pValue: number;
  verdict: 'regressed' | 'improved';
}

export interface HistorySeries {
  arm: string;
  metric: CompareMetric;
  label: string;
  unit: MetricUnit;
  /** One value per run used (runs left out for a busy machine or a missing arm are absent). */
  values: Array<{ index: number; value: number }>;
  changes: HistoryChange[];
}

export interface History {
  kind: 'pullbench.history';
  runs: Array<{ file: string; startedAt: string; busy: boolean; skipped?: string }>;
  series: HistorySeries[];
  /** regressed: some series' newest level is worse than the one before it by more than the tolerance. */
  verdict: 'regressed' | 'improved' | 'unchanged';
}

export interface HistoryOptions extends ChangePointOptions {
  tolerances?: Tolerances;
}

const medianOf = (xs: number[]): number => percentileSorted([...xs].sort((a, b) => a - b), 50);

/**
 * Change points over a nightly series, per arm and metric: E-Divisive on the per-run
 * statistic (src/compare/change-points.ts), kept only where the levels differ by more
 * than the metric's tolerance. Runs that cannot be compared with the newest are left out,
 * and so are, for timing metrics, runs whose machine was busier than the series' median
 * by BUSIER_CORES: one night on a busy runner is neither a change nor part of a level.
 */
export function analyseHistory(given: readonly HistoryRun[], options: HistoryOptions = {}): History {
  const sorted = [...given].sort((a, b) => a.results.startedAt.localeCompare(b.results.startedAt));
  const newest = sorted[sorted.length - 1];
  const loads = sorted.map((r) => machineLoad(r.results)?.busyCores);
  const known = loads.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  const typical = known.length > 0 ? known[Math.floor(known.length / 2)]! : 0;
  const runs: History['runs'] = sorted.map((r, i) => {
    const why = newest && r !== newest ? incomparability(r.results, newest.results) : [];
    const busy = loads[i] !== undefined && loads[i]! - typical >= BUSIER_CORES;
    return { file: r.file, startedAt: r.results.startedAt, busy, ...(why.length > 0 ? { skipped: why.join('; ') } : {}) };
  });
  const arms = [...new Set(sorted.flatMap((r, i) => (runs[i]!.skipped ? [] : r.results.arms.map((a) => a.arm.name))))];
  const series: HistorySeries[] = [];
  for (const arm of arms) {
    for (const metric of COMPARE_METRICS) {
      const def = METRICS[metric];
      const values: HistorySeries['values'] = [];
      sorted.forEach((r, index) => {
        if (runs[index]!.skipped || (def.noisy && runs[index]!.busy)) return;
        const a = r.results.arms.find((x) => x.arm.name === arm);
        const samples = a ? pooled(def.samples(a)) : [];
        if (samples.length > 0) values.push({ index, value: def.statistic(samples) });
      });
      const tolerance = options.tolerances?.[metric] ?? def.tolerance;
      const found = changePoints(values.map((v) => v.value), { ...options, seed: options.seed ?? seedOf(`${arm}|${metric}`) });
      const bounds = [0, ...found.map((f) => f.index), values.length];
      const changes: HistoryChange[] = [];
      found.forEach((f, k) => {
        const before = medianOf(values.slice(bounds[k]!, f.index).map((v) => v.value));
        const after = medianOf(values.slice(f.index, bounds[k + 2]!).map((v) => v.value));
        const change = def.unit === 'ratio' ? (after - before) * 100 : before === 0 ? (after === 0 ? 0 : Infinity) : ((after - before) / Math.abs(before)) * 100;
        if (Math.abs(change) <= tolerance) return;
        const run = sorted[values[f.index]!.index]!;
        changes.push({ index: values[f.index]!.index, file: run.file, startedAt: run.results.startedAt, before, after, change, pValue: f.pValue, verdict: after > before ? 'regressed' : 'improved' });
      });
      series.push({ arm, metric, label: def.label, unit: def.unit, values, changes });
    }
  }
  const newestLevels = series.map((s) => s.changes[s.changes.length - 1]?.verdict);
  const verdict = newestLevels.includes('regressed') ? 'regressed' : newestLevels.includes('improved') ? 'improved' : 'unchanged';
  return { kind: 'pullbench.history', runs, series, verdict };
}

/** The results files a history argument names: a file itself, a directory every results.json under it. */
export async function historyFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    let info;
    try {
      info = await stat(p);
    } catch (err) {
      throw new PullbenchError('INVALID_ARGUMENT', `--history: cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err, details: { path: p } });
    }
    if (!info.isDirectory()) files.push(p);
    else {
      const found = await readdir(p, { recursive: true });
      files.push(...found.filter((f) => basename(f) === 'results.json').sort().map((f) => join(p, f)));
    }
  }
  if (files.length < 4) throw new PullbenchError('INVALID_ARGUMENT', `--history needs at least 4 results files (two on each side of a change), found ${files.length} in ${paths.join(', ')}`);
  return files;
}

/** The history as text: the change points of every series that has one, and the newest level's verdict. */
export function renderHistory(h: History): string {
  const used = h.runs.filter((r) => !r.skipped);
  const out = [`${h.verdict.toUpperCase()}: ${used.length} runs from ${used[0]?.startedAt ?? '-'} to ${used[used.length - 1]?.startedAt ?? '-'}`];
  const busy = h.runs.filter((r) => r.busy && !r.skipped);
  if (busy.length > 0) out.push(`left out of timing series, machine busier than usual: ${busy.map((r) => r.file).join(', ')}`);
  for (const r of h.runs.filter((x) => x.skipped)) out.push(`left out, not comparable with the newest run: ${r.file} (${r.skipped})`);
  const changed = h.series.filter((s) => s.changes.length > 0);
  if (changed.length === 0) out.push('', 'no change point beyond the tolerances (E-Divisive, permutation test p <= 0.05, at least two runs a side)');
  for (const s of changed) {
    for (const c of s.changes) {
      const change = s.unit === 'ratio' ? `${c.change >= 0 ? '+' : ''}${c.change.toFixed(1)} pp` : `${c.change >= 0 ? '+' : ''}${c.change.toFixed(1)}%`;
      out.push(`${c.verdict === 'regressed' ? 'REGRESSED' : 'improved'}: ${s.arm} ${s.label} ${formatValue(s.unit, c.before)} -> ${formatValue(s.unit, c.after)} (${change}, p=${c.pValue.toFixed(3)}) from run ${c.index + 1} ${c.startedAt} (${c.file})`);
    }
  }
  return `${out.join('\n')}\n`;
}
