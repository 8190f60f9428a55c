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
