import { describe, expect, it } from 'vitest';
import { formatBytes, parseSize, tryParseSize } from '../../src/util/units.js';
import { isPullbenchError } from '../../src/errors.js';

describe('sizes', () => {
  it.each([
    ['512', 512],
    ['512B', 512],
    ['40MB', 40_000_000],
    ['40M', 40_000_000],
    ['1.5GB', 1_500_000_000],
    ['2kB', 2000],
    ['40MiB', 40 * 1024 * 1024],
    ['1GiB', 1024 ** 3],
    ['4 KiB', 4096],
  ])('%s is %i bytes', (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it.each(['', 'MB', '-1MB', '10XB', '1e3', '10 MB extra'])('%j is not a size', (text) => {
    expect(tryParseSize(text)).toBeUndefined();
    try {
      parseSize(text);
      expect.unreachable();
    } catch (err) {
      expect(isPullbenchError(err, 'INVALID_ARGUMENT')).toBe(true);
    }
  });

  it('formats decimal sizes', () => {
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(40_000_000)).toBe('40.0 MB');
  });
});
