// Shared by the verdict benches: run the quickstart through the command users run, keep a CPU burner beside it, clean up.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'bin/run.js');

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** `./bin/run.js ...args` from the repository root, to completion. */
export function cli(args: string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, CI: '1', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}

/** A CPU-bound process pinned to one core (taskset when present), as a busy neighbour on a shared runner. */
export function startBurner(core = 0): ChildProcess {
  const pinned = spawnSync('taskset', ['--version']).status === 0;
  const [cmd, args] = pinned ? ['taskset', ['-c', String(core), process.execPath, '-e', 'for(;;);']] : [process.execPath, ['-e', 'for(;;);']];
  const child = spawn(cmd as string, args as string[], { stdio: 'ignore' });
  burners.add(child);
  child.on('exit', () => burners.delete(child));
  return child;
}

export async function stopBurner(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

const burners = new Set<ChildProcess>();
const dirs = new Set<string>();

/** A temp dir removed at exit, on Ctrl-C too (unless keep). */
export function workDir(prefix: string, keep: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!keep) dirs.add(dir);
  return dir;
}

function cleanup(): void {
  for (const b of burners) b.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

export const flag = (name: string): boolean => process.argv.includes(`--${name}`);
