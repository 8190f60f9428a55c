import { formatBytes, formatMs } from '../util/units.js';

/** The unit a compared metric is in. */
export type MetricUnit = 'ms' | 'ratio' | 'bytes' | 'count';

/** A metric's value in its unit: `1.23s`, `2.5%`, `8.0 MB`, `20`. */
export function formatValue(unit: MetricUnit, v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '-';
  switch (unit) {
    case 'ms':
      return formatMs(v);
    case 'ratio':
      return `${(v * 100).toFixed(1)}%`;
    case 'bytes':
      return formatBytes(v);
    case 'count':
      return Number.isInteger(v) ? String(v) : v.toFixed(1);
  }
}

/** What the parts of an arm's name mean, for the summary and the report; the p2p topologies when a run has them. */
export function armLegend(p2p = false): string {
  return `direct: nodes pull from the registry; mirror: through a pull-through cache; pre-pulled: images loaded on the nodes beforehand;${p2p ? ' p2p-whole-blob, p2p-pieces: nodes fetch from each other first, Spegel- and Dragonfly-like;' : ''} cold: nodes start empty; warm: nodes start with the images`;
}

/** Pods that did not start, with the ones the scenario expects to fail (rollouts[].expect: failure) counted apart: they are not failures of the run. */
export function failedText(total: number, expected: number): string {
  if (total === 0) return '0';
  if (expected === total) return `${total} expected`;
  return expected > 0 ? `${total - expected} (+${expected} exp.)` : String(total);
}

/** What a comparison row is about: the arm, or one pool or registry of it (`IfNotPresent/direct/cold [pool edge]`). */
export function comparedSubject(m: { arm: string; pool?: string | undefined; registry?: string | undefined }): string {
  return m.pool !== undefined ? `${m.arm} [pool ${m.pool}]` : m.registry !== undefined ? `${m.arm} [registry ${m.registry}]` : m.arm;
}
