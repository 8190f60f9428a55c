import { PullbenchError } from '../errors.js';

// Decimal units are powers of 1000 (KB, MB, GB, and the shorthands k, M, G);
// binary units are powers of 1024 (KiB, MiB, GiB). A bare number is bytes.
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  ki: 1024,
  kib: 1024,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
};
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/;

/** `40MB` -> 40_000_000, `40MiB` -> 41_943_040, `512` -> 512; undefined when not a size. */
export function tryParseSize(text: string): number | undefined {
  const m = SIZE_RE.exec(text.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] || 'b').toLowerCase()];
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

/** 41_943_040 -> `41.9 MB` (decimal, as registries and kubelet report sizes). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let i = 0;
  while (Math.abs(value) >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return i === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[i]}`;
}
