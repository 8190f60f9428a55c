import type { UsageAggregate } from '../../measure/usage.js';
import { type RunResults } from '../../results/index.js';
import { formatBytes, formatMs } from '../../util/units.js';

/** A cell: the value to sort by and the text shown. */
export type Cell = [number | undefined, string];

/** One sentence saying the run was byte-scaled and how to read its byte counts, or undefined. */
export function scaleNote(results: Pick<RunResults, 'scale'>): string | undefined {
  const f = results.scale?.bytes;
  if (f === undefined || f === 1) return undefined;
  return `Scaled run: layer sizes and link bandwidths x${f}, so pull times are representative of the full sizes while byte counts are as measured (multiply by ${+(1 / f).toPrecision(4)} for the modelled sizes).`;
}

/**
 * For a modelled run (cluster.driver model), what it is and the calibration it used, in one paragraph: its figures
 * are the model's prediction in virtual time, not a measurement (docs/model.md). Undefined for any other run.
 */
export function modelNote(results: Pick<RunResults, 'model'>): string | undefined {
  const m = results.model;
  if (!m) return undefined;
  const server = (s: { serviceMs: number; concurrency: number; egressBytesPerMs: number }): string =>
    `${s.serviceMs.toFixed(2)} ms per request, ${s.concurrency} at once, ${formatBytes(s.egressBytesPerMs * 1000)}/s`;
  return (
    `Modelled run, not a measurement: cluster.driver model ran the kubelet and rollout code in virtual time over ${m.network} (no sockets, no bytes moved); ` +
    `pull and rollout times are the model's prediction (docs/model.md). Calibration measured ${m.calibration.measuredAt}: registry ${server(m.calibration.registry)}; mirror ${server(m.calibration.mirror)}.`
  );
}

/** `scaled x0.1` beside a byte-scaled run's byte figures (charts, columns), or undefined. */
export function scaleLabel(results: Pick<RunResults, 'scale'>): string | undefined {
  const f = results.scale?.bytes;
  return f === undefined || f === 1 ? undefined : `scaled x${f}`;
}

/** The byte chart's axis title, and for a byte-scaled run a chart title saying how to read it. */
export function bytesChartLabels(results: Pick<RunResults, 'scale'>): { axis: string; title?: string } {
  const f = results.scale?.bytes;
  if (f === undefined || f === 1) return { axis: 'bytes per repetition' };
  return { axis: `bytes per repetition (${scaleLabel(results)!})`, title: `Bytes as measured at scale.bytes ${f}: x${+(1 / f).toPrecision(4)} for the modelled sizes` };
}

export const EMULATION_HEAD = ['arm', 'nodes', 'CPU per node', 'cores busy', 'RSS growth per node', 'peak RSS', 'event loop busy', 'loop delay p99', 'open fds peak'];

// A load: storm's generator ran in the same process: its CPU is in these figures and cannot be told apart.
const withLoad = (u: UsageAggregate, sep: string): string => (u.loadStorms ? `${sep} includes the load generator of ${u.loadStorms} storm${u.loadStorms > 1 ? 's' : ''}` : '');

/** The emulation-cost cells of an arm (emulated clusters only). */
export function emulationCells(u: UsageAggregate): Cell[] {
  return [
    [u.nodes, String(u.nodes)],
    [u.cpuPerNodeMs, `${formatMs(u.cpuPerNodeMs)}${withLoad(u, ',')}`],
    [u.cpuCores, u.cpuCores.toFixed(2)],
    [u.rssPerNodeBytes, formatBytes(u.rssPerNodeBytes)],
    [u.rssPeakBytes, formatBytes(u.rssPeakBytes)],
    [u.eventLoopUtilization, `${(u.eventLoopUtilization * 100).toFixed(0)}%`],
    [u.eventLoopDelayP99Ms, formatMs(u.eventLoopDelayP99Ms)],
    [u.openFdsPeak, u.openFdsPeak === undefined ? '-' : String(u.openFdsPeak)],
  ];
}

/** What the per-node figures mean: the process's, shared out (nodes, registry and shaping share one process). */
export const EMULATION_NOTE =
  'Emulated nodes share the pullbench process with the registry, the mirror and the link shaping (and the load generator of any load: storm, marked on its arm), so per-node figures are the process\'s CPU time during the rollout and its RSS growth from before the nodes started, divided by the node count: an upper bound on one emulated node, not a per-node measurement.';

/** Below this the rollout is too short for ratios over its window (cores busy, event loop busy) to mean anything. */
const MIN_USAGE_WINDOW_MS = 1000;

/** The summary's emulation-cost table: one row per arm with usage, fitting 100 columns. */
export function usageLines(results: Pick<RunResults, 'arms'>): string[] {
  const rows = results.arms.flatMap(({ arm, aggregate: { usage: u, rolloutDuration } }) => {
    if (!u) return [];
    const short = (rolloutDuration?.mean ?? 0) < MIN_USAGE_WINDOW_MS;
    return [[
      arm.name,
      String(u.nodes),
      `${formatMs(u.cpuPerNodeMs)}${u.loadStorms ? '*' : ''}`,
      short ? '-' : u.cpuCores.toFixed(2),
      `+${formatBytes(u.rssPerNodeBytes)}`,
      formatBytes(u.rssPeakBytes),
      short ? '-' : `${(u.eventLoopUtilization * 100).toFixed(0)}%`,
      formatMs(u.eventLoopDelayP99Ms),
    ]];
  });
  if (rows.length === 0) return [];
  const head = ['emulation cost', 'nodes', 'CPU/node', 'cores', 'RSS/node', 'peak RSS', 'loop busy', 'delay p99'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const notes = ['(the pullbench process during the rollout, shared out per node: an upper bound on one node)'];
  if (results.arms.some((a) => a.aggregate.usage && (a.aggregate.rolloutDuration?.mean ?? 0) < MIN_USAGE_WINDOW_MS)) notes.push('(-: the rollout took under 1 s, too short a window for busy ratios)');
  if (results.arms.some((a) => a.aggregate.usage?.loadStorms)) notes.push('(*: includes the load generator of the arm\'s load: storms)');
  return [line(head), ...rows.map(line), ...notes];
}
