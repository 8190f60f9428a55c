import { describe, expect, it } from 'vitest';
import { tryParseDuration, tryParsePercent, writeDuration, writePercent } from '../../src/util/units.js';

const units = {
  duration: { write: writeDuration, read: tryParseDuration },
  percentage: { write: writePercent, read: tryParsePercent },
};

describe('writing durations and percentages as a scenario file does', () => {
  it.each([
    ['duration', 0, '0ms'],
    ['duration', 40, '40ms'],
    ['duration', 1500, '1s500ms'],
    ['duration', 90_000, '1m30s'],
    ['duration', 300_000, '5m'],
    ['duration', 21_600_000, '6h'],
    ['duration', 3_661_001, '1h1m1s1ms'],
    ['duration', 0.5, '0.5ms'],
    ['percentage', 0, '0%'],
    ['percentage', 0.25, '25%'],
    ['percentage', 0.001, '0.1%'],
    ['percentage', 1, '100%'],
  ] as const)('the %s %d is written %s, which reads back exactly', (unit, value, text) => {
    expect(units[unit].write(value)).toBe(text);
    expect(units[unit].read(text)).toBe(value);
  });
});
