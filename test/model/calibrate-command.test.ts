import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadCalibration } from '../../src/model/calibration.js';

const run = promisify(execFile);
const bin = new URL('../../bin/dev.js', import.meta.url).pathname;

describe('pullbench calibrate', () => {
  it('measures the embedded registry and mirror and writes a file a scenario can name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pullbench-calibrate-'));
    try {
      const file = join(dir, 'calibration.json');
      const { stdout } = await run(process.execPath, ['--import', 'tsx', bin, 'calibrate', '--out', file, '--json'], { timeout: 280_000 });
      const printed = JSON.parse(stdout) as { registry: { serviceMs: number } };
      const written = await loadCalibration(file);
      expect(written).toEqual(printed);
      for (const side of [written.registry, written.mirror]) {
        expect(side.serviceMs).toBeGreaterThan(0);
        expect(side.concurrency).toBeGreaterThanOrEqual(1);
        // 8 clients reading a 16 MB blob over loopback: well above 1 MB/s on any machine that runs the tests.
        expect(side.egressBytesPerMs).toBeGreaterThan(1000);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
