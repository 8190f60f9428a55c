import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { pendingCleanups, registerCleanup, runAllCleanups } from '../../src/util/cleanup.js';

const child = join(import.meta.dirname, 'fixtures', 'cleanup-child.ts');
const marks = mkdtempSync(join(tmpdir(), 'pb-cleanup-test-'));
afterAll(() => rmSync(marks, { recursive: true, force: true }));
const marked = (name: string): boolean => existsSync(join(marks, name));

// Starts the fixture, waits for the temp dir it made, sends each signal after its delay (the first while nothing
// runs, the others while its slow disposer runs), and resolves to its exit code, stderr and temp dir.
async function interrupt(signals: [NodeJS.Signals, number][], slowMs = 1500): Promise<{ code: number | null; stderr: string; dir: string }> {
  const p = spawn(process.execPath, ['--import', 'tsx', child], {
    env: { ...process.env, CLEANUP_MARKS: marks, CLEANUP_SLOW_MS: String(slowMs) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
    for (let i = 0; i < 200 && !stdout.includes('\n'); i++) await sleep(50);
    const dir = stdout.trim();
    expect(existsSync(dir)).toBe(true);
    for (const [signal, after] of signals) {
      await sleep(after);
      p.kill(signal);
    }
    return { code: await exited, stderr, dir };
  } finally {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
}

describe('process cleanup on signals', { timeout: 30_000 }, () => {
  beforeEach(() => {
    for (const m of ['slow-done', 'slow-fallback']) rmSync(join(marks, m), { force: true });
  });

  it('finishes the cleanup under way when the same SIGTERM comes again (as pkill -f and a parent passing it on send it)', async () => {
    const { code, stderr, dir } = await interrupt([
      ['SIGTERM', 0],
      ['SIGTERM', 300],
    ]);
    expect(code).toBe(130);
    expect(stderr).not.toMatch(/SIGTERM again/);
    expect(marked('slow-done')).toBe(true);
    expect(marked('slow-fallback')).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it('exits at a later SIGTERM, and at a second Ctrl-C, without waiting; the step under way and the rest get their fallbacks', async () => {
    for (const signals of [
      [
        ['SIGINT', 0],
        ['SIGINT', 300],
      ],
      [
        ['SIGTERM', 0],
        ['SIGTERM', 2500],
      ],
    ] as [NodeJS.Signals, number][][]) {
      for (const m of ['slow-done', 'slow-fallback']) rmSync(join(marks, m), { force: true });
      const { code, stderr, dir } = await interrupt(signals, 5000);
      expect(code).toBe(130);
      expect(stderr).toMatch(new RegExp(`${signals[1]![0]} again: exiting without finishing cleanup`));
      // The slow disposer (which had unregistered itself) was cut short and its fallback ran; the temp dir, not yet
      // reached, went with its own fallback.
      expect(marked('slow-done')).toBe(false);
      expect(marked('slow-fallback')).toBe(true);
      expect(existsSync(dir)).toBe(false);
    }
  });
});

describe('runAllCleanups', () => {
  it('runs each disposer once when called again while a pass runs, and the second call waits for the first', async () => {
    const calls: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    registerCleanup('test: first registered', () => void calls.push('first'));
    registerCleanup('test: slow', async () => {
      calls.push('slow');
      await gate;
    });
    const one = runAllCleanups();
    await sleep(10);
    // Under way: the slow one stays listed until it has run.
    expect(pendingCleanups()).toEqual(expect.arrayContaining(['test: first registered', 'test: slow']));
    let secondDone = false;
    const two = runAllCleanups().then((errors) => ((secondDone = true), errors));
    await sleep(10);
    expect(secondDone).toBe(false);
    release();
    expect(await one).toEqual([]);
    expect(await two).toEqual([]);
    expect(calls).toEqual(['slow', 'first']);
    expect(pendingCleanups().filter((l) => l.startsWith('test:'))).toEqual([]);
  });
});
