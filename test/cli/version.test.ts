import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = new URL('../../bin/dev.js', import.meta.url).pathname;

describe('pullbench version', () => {
  it('prints the package version and the Node version as JSON', async () => {
    // The same Node that runs the tests (CI runs them under Node 20 and 24), not whichever is on PATH.
    const { stdout } = await run(process.execPath, ['--import', 'tsx', bin, 'version', '--json']);
    const info = JSON.parse(stdout) as { pullbench: string; node: string };
    expect(info.pullbench).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.node).toBe(process.versions.node);
  });
});
