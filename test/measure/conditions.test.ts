import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseProcStat, recordConditions, shaExtensionsIn } from '../../src/measure/conditions.js';

describe('parseProcStat', () => {
  it('reads the aggregate cpu line: busy, idle (with iowait) and steal jiffies', () => {
    const text = 'cpu  100 5 50 1000 20 3 2 7 0 0\ncpu0 50 2 25 500 10 1 1 3 0 0\nintr 1 2 3\n';
    expect(parseProcStat(text)).toEqual({ busy: 160, idle: 1020, steal: 7, total: 1187 });
  });

  it('gives undefined for text without one', () => {
    expect(parseProcStat('intr 1 2 3\n')).toBeUndefined();
  });
});

describe('shaExtensionsIn', () => {
  it('finds sha_ni in x86 flags and sha2 in arm64 features', () => {
    expect(shaExtensionsIn('processor\t: 0\nflags\t\t: fpu sse2 sha_ni avx2\n')).toBe(true);
    expect(shaExtensionsIn('Features\t: fp asimd aes sha1 sha2 crc32\n')).toBe(true);
    expect(shaExtensionsIn('flags\t\t: fpu sse2 avx2\n')).toBe(false);
    expect(shaExtensionsIn('model name: x\n')).toBeUndefined();
  });
});

describe('recordConditions', () => {
  it.runIf(existsSync('/proc/stat'))('sees a CPU-bound neighbour as other work of about a core', async () => {
    const rec = recordConditions();
    const burner = spawn(process.execPath, ['-e', 'const end = Date.now() + 1500; while (Date.now() < end);'], { stdio: 'ignore' });
    await new Promise((r) => burner.on('exit', r));
    const c = rec.stop();
    expect(c.cpu!.otherCores).toBeGreaterThan(0.5);
    expect(c.wallMs).toBeGreaterThanOrEqual(1400);
    expect(c.loadAverage.before).toHaveLength(3);
    expect(c.eventLoopDelay.p99Ms).toBeGreaterThanOrEqual(0);
    expect(rec.stop()).toBe(c);
  });
});
