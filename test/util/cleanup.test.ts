import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';

const child = join(import.meta.dirname, 'fixtures', 'cleanup-child.ts');
const marks = mkdtempSync(join(tmpdir(), 'pb-cleanup-test-'));
afterAll(() => rmSync(marks, { recursive: true, force: true }));

// Starts the fixture, waits for the temp dir it made, sends `signals` 300 ms apart (the first one while nothing
// runs, the others while its slow disposer runs), and resolves to its exit code, stderr and temp dir.
async function interrupt(signals: NodeJS.Signals[]): Promise<{ code: number | null; stderr: string; dir: string }> {
  const p = spawn(process.execPath, ['--import', 'tsx', child], { env: { ...process.env, CLEANUP_MARKS: marks }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  for (let i = 0; i < 200 && !stdout.includes('\n'); i++) await sleep(50);
  const dir = stdout.trim();
  expect(existsSync(dir)).toBe(true);
  for (const s of signals) {
    p.kill(s);
    await sleep(300);
  }
  return { code: await exited, stderr, dir };
}

describe('process cleanup on signals', { timeout: 30_000 }, () => {
  it('finishes the cleanup under way when SIGTERM comes again (as pkill and a parent passing it on both send it)', async () => {
    rmSync(join(marks, 'slow-done'), { force: true });
    const { code, stderr, dir } = await interrupt(['SIGTERM', 'SIGTERM']);
    expect(code).toBe(130);
    expect(stderr).not.toMatch(/SIGTERM again/);
    expect(existsSync(join(marks, 'slow-done'))).toBe(true);
    expect(existsSync(dir)).toBe(false);
  });

  it('exits at a second Ctrl-C without waiting, and still removes what was not yet cleaned up', async () => {
    rmSync(join(marks, 'slow-done'), { force: true });
    const { code, stderr, dir } = await interrupt(['SIGINT', 'SIGINT']);
    expect(code).toBe(130);
    expect(stderr).toMatch(/SIGINT again: exiting without finishing cleanup/);
    // The slow disposer was cut short; the temp dir, not yet reached, went with the exit's synchronous fallback.
    expect(existsSync(join(marks, 'slow-done'))).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });
});
