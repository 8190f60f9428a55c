import { describe, expect, it } from 'vitest';
import {
  formatBytes, parseDuration, parseSize, tryParseBandwidth, tryParseDuration, tryParsePercent, tryParseSize,
} from '../../src/util/units.js';
import { errorCodeOf } from '../helpers/error-code.js';


describe('sizes', () => {
  it.each([
    ['512', 512],
    ['512B', 512],
    ['40MB', 40_000_000],
    ['40M', 40_000_000],
    ['1.5GB', 1_500_000_000],
    ['2kB', 2000],
    ['2K', 2000],
    ['40MiB', 40 * 1024 * 1024],
    ['1GiB', 1024 ** 3],
    ['4 KiB', 4096],
    ['3Mi', 3 * 1024 ** 2],
  ])('%s is %i bytes', (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it.each(['', 'MB', '-1MB', '10XB', '1e3', '10 MB extra', '40mb', '1TB', '1e30GB'])('%j is not a size', (text) => {
    expect(tryParseSize(text)).toBeUndefined();
    expect(errorCodeOf(() => parseSize(text))).toBe('INVALID_ARGUMENT');
  });
});

describe('durations', () => {
  it.each([
    ['40ms', 40],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['6h', 6 * 3_600_000],
    ['0ms', 0],
  ])('%s is %i ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '15', 'soon', '-1s', '1d', '1s 2ms', 's'])('%j is not a duration: a bare number is ambiguous, so refused', (text) => {
    expect(tryParseDuration(text)).toBeUndefined();
    expect(errorCodeOf(() => parseDuration(text, '--duration'))).toBe('INVALID_ARGUMENT');
  });
});

describe('bandwidths and percentages', () => {
  it('reads bits and bytes per second with decimal prefixes', () => {
    expect(tryParseBandwidth('200Mbit')).toBe(200e6);
    expect(tryParseBandwidth('100Mbps')).toBe(100e6);
    expect(tryParseBandwidth('25MBps')).toBe(200e6);
    expect(tryParseBandwidth('0Mbit')).toBeUndefined();
    expect(tryParseBandwidth('200')).toBeUndefined();
  });

  it('reads percentages up to 100%', () => {
    expect(tryParsePercent('25%')).toBe(0.25);
    expect(tryParsePercent('100%')).toBe(1);
    expect(tryParsePercent('101%')).toBeUndefined();
    expect(tryParsePercent('25')).toBeUndefined();
  });
});

describe('formatBytes', () => {
  it('prints decimal units, as registries and kubelet do', () => {
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(999.4)).toBe('999 B');
    expect(formatBytes(1536)).toBe('1.5 kB');
    expect(formatBytes(40_000_000)).toBe('40.0 MB');
    expect(formatBytes(41_943_040)).toBe('41.9 MB');
    expect(formatBytes(2.5e12)).toBe('2.5 TB');
  });

  it('keeps the sign of a difference', () => {
    expect(formatBytes(-1500)).toBe('-1.5 kB');
    expect(formatBytes(-12)).toBe('-12 B');
  });
});
