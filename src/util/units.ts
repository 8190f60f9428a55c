/**
 * Sizes, durations, bandwidths and percentages: the one grammar that scenario
 * files and command flags share, and the one way sizes are printed.
 * docs/cli.md ("Units") is the user's reference; the JSON Schema takes its patterns from here.
 *
 * - size: a number with an optional unit. Decimal units are powers of 1000
 *   (`k`/`kB`/`KB`, `M`/`MB`, `G`/`GB`), binary units powers of 1024 (`Ki`/`KiB`,
 *   `Mi`/`MiB`, `Gi`/`GiB`); `B` or no unit is bytes. `40MB`, `40MiB`, `4 KiB`, `512`.
 * - duration: Go's time.ParseDuration without signs or sub-millisecond units:
 *   one or more number+unit pairs, units `ms`, `s`, `m`, `h`. `40ms`, `1.5s`, `1m30s`.
 *   A bare number is refused (is `30` seconds or milliseconds?): write `30s` or `0ms`.
 * - bandwidth: `200Mbit`, `1Gbit`, `100Mbps` (bits/s) or `25MBps` (bytes/s), decimal prefixes.
 * - percentage: `25%`, at most 100%.
 * - printed sizes are decimal (`41.9 MB`), as registries and kubelet report them.
 */
import { PullbenchError } from '../errors.js';

const SIZE_UNITS: Record<string, number> = {
  b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9,
  ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3,
};
/** The size grammar (also the JSON Schema's pattern for a size string). */
export const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*(B|[kKMG]i?B?)?$/;

/** `40MB` -> 40_000_000, `40MiB` -> 41_943_040, `512` -> 512; undefined when not a size. */
export function tryParseSize(text: string): number | undefined {
  const m = SIZE_PATTERN.exec(text.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? 'b').toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Like tryParseSize, but bad input is INVALID_ARGUMENT naming what was expected. */
export function parseSize(text: string, what = 'size'): number {
  const bytes = tryParseSize(text);
  if (bytes === undefined) {
    throw new PullbenchError('INVALID_ARGUMENT', `invalid ${what} ${JSON.stringify(text.slice(0, 100))}: expected a number with an optional unit, e.g. 40MB (10^6) or 40MiB (2^20)`);
  }
  return bytes;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** The duration grammar (also the JSON Schema's pattern for a duration string). */
export const DURATION_PATTERN = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;

/** `40ms`, `1.5s`, `1m30s`, `6h` -> milliseconds; undefined when not a duration. */
export function tryParseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DURATION_PATTERN.test(trimmed)) return undefined;
  let total = 0;
  for (const m of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  return total;
}

/** Like tryParseDuration, but bad input is INVALID_ARGUMENT naming what was expected. */
export function parseDuration(text: string, what = 'duration'): number {
  const ms = tryParseDuration(text);
  if (ms === undefined) {
    throw new PullbenchError('INVALID_ARGUMENT', `invalid ${what} ${JSON.stringify(text.slice(0, 100))}: expected a number with a unit (ms, s, m, h), e.g. 30s, 2m, 1m30s`);
  }
  return ms;
}

/** 300_000 -> `5m`, 90_000 -> `1m30s`, 0 -> `0ms`: exact, in the grammar above (tryParseDuration reads it back). */
export function writeDuration(ms: number): string {
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (rest >= size) parts.push(`${Math.floor(rest / size)}${unit}`);
    rest %= size;
  }
  if (rest > 0 || parts.length === 0) parts.push(`${+rest.toFixed(3)}ms`);
  return parts.join('');
}

const PREFIX: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9 };
/** The bandwidth grammar (also the JSON Schema's pattern for a bandwidth string). */
export const BANDWIDTH_PATTERN = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)(bit|bps|Bps)$/;

/** `200Mbit`, `1Gbit`, `100Mbps` (bits/s) or `25MBps` (bytes/s) -> bits per second. */
export function tryParseBandwidth(text: string): number | undefined {
  const m = BANDWIDTH_PATTERN.exec(text.trim());
  if (!m) return undefined;
  const bits = Number(m[1]) * PREFIX[m[2]!.toLowerCase()]! * (m[3] === 'Bps' ? 8 : 1);
  return bits > 0 ? Math.round(bits) : undefined;
}

/** The percentage grammar (also the JSON Schema's pattern for a percentage string). */
export const PERCENT_PATTERN = /^(\d+(?:\.\d+)?)%$/;

/** `25%` -> 0.25; undefined above 100%. */
export function tryParsePercent(text: string): number | undefined {
  const m = PERCENT_PATTERN.exec(text.trim());
  if (!m) return undefined;
  const v = Number(m[1]) / 100;
  return v <= 1 ? v : undefined;
}

/** 0.25 -> `25%` (tryParsePercent reads it back). */
export function writePercent(fraction: number): string {
  return `${+(fraction * 100).toFixed(6)}%`;
}

const BYTE_UNITS = ['kB', 'MB', 'GB', 'TB'];

/** 41_943_040 -> `41.9 MB`, 999 -> `999 B`, -1500 -> `-1.5 kB` (decimal, as registries and kubelet report sizes). */
export function formatBytes(bytes: number): string {
  if (bytes < 0) return `-${formatBytes(-bytes)}`;
  if (Math.round(bytes) < 1000) return `${Math.round(bytes)} B`;
  let value = bytes / 1000;
  let i = 0;
  while (value >= 1000 && i < BYTE_UNITS.length - 1) {
    value /= 1000;
    i++;
  }
  return `${value.toFixed(1)} ${BYTE_UNITS[i]}`;
}

/** `850ms`, `1.23s`, `2m05s`; a negative difference keeps its sign. */
export function formatMs(ms: number): string {
  if (ms < 0) return `-${formatMs(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}
