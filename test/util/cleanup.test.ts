import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { INTERRUPT_GRACE_MS, pendingCleanups, registerCleanup, runAllCleanups } from '../../src/util/cleanup.js';
import { makeTempDir } from '../../src/util/temp.js';

const child = join(import.meta.dirname, 'fixtures', 'cleanup-child.ts');
const marks = mkdtempSync(join(tmpdir(), 'pb-cleanup-test-'));
afterAll(() => rmSync(marks, { recursive: true, force: true }));
const marked = (name: string): boolean => existsSync(join(marks, name));

// Starts the fixture, waits for the temp dir it made, sends each signal after its delay (the first while nothing
// runs, the others while its disposers run), and resolves to its exit code, stderr, temp dir and the time from the
// first signal to the exit.
async function interrupt(signals: [NodeJS.Signals, number][], slowMs = 1500, waitMs?: number, env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string; dir: string; exitMs: number }> {
  const p = spawn(process.execPath, ['--import', 'tsx', child], {
    env: { ...process.env, ...env, CLEANUP_MARKS: marks, CLEANUP_SLOW_MS: String(slowMs), ...(waitMs !== undefined ? { CLEANUP_WAIT_MS: String(waitMs) } : {}) },
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
    let t0 = 0;
    for (const [signal, after] of signals) {
      await sleep(after);
      t0 ||= performance.now();
      p.kill(signal);
    }
    const code = await exited;
    return { code, stderr, dir, exitMs: performance.now() - t0 };
  } finally {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
}

const MARKS = ['slow-done', 'slow-fallback', 'waited-done', 'in-process-started'];

describe('process cleanup on signals', { timeout: 30_000 }, () => {
  beforeEach(() => {
    for (const m of MARKS) rmSync(join(marks, m), { force: true });
  });

  it('finishes the cleanup under way when the same SIGTERM comes again (as pkill -f and a parent passing it on send it)', async () => {
    const { code, stderr, dir } = await interrupt([
      ['SIGTERM', 0],
      ['SIGTERM', 300],
    ], INTERRUPT_GRACE_MS / 2);
    expect(code).toBe(130);
    expect(stderr).not.toMatch(/SIGTERM again/);
    expect(marked('slow-done')).toBe(true);
    expect(marked('slow-fallback')).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it('exits at once when every fallback does its disposer\'s whole job (temp dirs, in-process parts), and runs them', async () => {
    const { code, stderr, dir } = await interrupt([['SIGINT', 0]], 0, undefined, { CLEANUP_EQUIVALENT_ONLY: '1', PULLBENCH_TRACE_EXIT: '1' });
    expect(code).toBe(130);
    // No grace: the exit came from the signal handler itself, before any disposer ran.
    expect(stderr).not.toMatch(/grace check/);
    expect(marked('in-process-started')).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it('exits after the grace when what is left has synchronous fallbacks, and runs them', async () => {
    const { code, stderr, dir, exitMs } = await interrupt([['SIGINT', 0]], 10_000);
    expect(code).toBe(130);
    expect(stderr).not.toMatch(/SIGINT again/);
    expect(exitMs).toBeGreaterThanOrEqual(INTERRUPT_GRACE_MS - 50);
    // The grace, and the machine's delays: far below the slow disposer's 10 s.
    expect(exitMs).toBeLessThan(INTERRUPT_GRACE_MS + 3000);
    expect(marked('slow-done')).toBe(false);
    expect(marked('slow-fallback')).toBe(true);
    expect(existsSync(dir)).toBe(false);
  });

  it('waits past the grace for a disposer an exit cannot do, and says what it waits for', async () => {
    const { code, stderr, dir, exitMs } = await interrupt([['SIGINT', 0]], 100, 2500);
    expect(code).toBe(130);
    expect(exitMs).toBeGreaterThanOrEqual(2400);
    expect(stderr).toMatch(/waiting for: waited/);
    expect(marked('waited-done')).toBe(true);
    // Past the grace, the slow one (with a fallback) is done or cut short by the exit, its fallback run.
    expect(marked('slow-done') || marked('slow-fallback')).toBe(true);
    expect(existsSync(dir)).toBe(false);
  });

  it('exits at a later SIGTERM, and at a second Ctrl-C, without waiting; what is left gets its fallbacks', async () => {
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
      for (const m of MARKS) rmSync(join(marks, m), { force: true });
      const { code, stderr, dir } = await interrupt(signals, 5000, 10_000);
      expect(code).toBe(130);
      expect(stderr).toMatch(new RegExp(`${signals[1]![0]} again: exiting without finishing cleanup`));
      // The waited disposer (no fallback) was cut short; the slow one, not yet reached, and the temp dir went with
      // their fallbacks.
      expect(marked('waited-done')).toBe(false);
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

describe('a temp dir', () => {
  it('stays registered while it is being removed, so that an exit meanwhile (a second Ctrl-C) still removes it', async () => {
    const dir = await makeTempDir('pb-cleanup-unit-');
    const label = `temp dir ${dir.path}`;
    const removing = dir.remove();
    expect(pendingCleanups()).toContain(label);
    await removing;
    expect(pendingCleanups()).not.toContain(label);
    expect(existsSync(dir.path)).toBe(false);
  });

  it('made inside a parent without registering, for a parent its owner removes (node roots in worker threads)', async () => {
    await using parent = await makeTempDir('pb-cleanup-parent-');
    const inner = await makeTempDir('node-', { parent: parent.path, register: false });
    expect(inner.path.startsWith(`${parent.path}/node-`)).toBe(true);
    expect(pendingCleanups()).not.toContain(`temp dir ${inner.path}`);
    await inner.remove();
    expect(existsSync(inner.path)).toBe(false);
  });
});
