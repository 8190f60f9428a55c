import { mkdtemp, rm } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupUnderWay, registerCleanup, withSyncFallback } from './cleanup.js';

export interface TempDir extends AsyncDisposable {
  readonly path: string;
  remove(): Promise<void>;
}

export interface TempDirOptions {
  /** Made inside this directory instead of the system's temp dir. */
  parent?: string;
  /**
   * Registered with the process's cleanup (default). Off for a dir inside a parent the process has registered, or
   * made in a worker thread, whose cleanup registry the process's exit does not run.
   */
  register?: boolean;
  /**
   * Thousands of files (node roots), written by threads the process owns: a Ctrl-C gives its removal the grace (the
   * threads stopped first, then an async removal), and the exit's removal is by rm(1), where rmSync takes seconds.
   */
  manyFiles?: boolean;
}

/**
 * A temp dir removed on dispose, and also on Ctrl-C or process exit. It stays registered until it is gone, so an
 * exit while it is being removed (a second Ctrl-C) still removes it, synchronously.
 */
export async function makeTempDir(prefix = 'pullbench-', opts: TempDirOptions = {}): Promise<TempDir> {
  const path = await mkdtemp(join(opts.parent ?? tmpdir(), prefix));
  let removing: Promise<void> | undefined;
  const remove = (): Promise<void> => {
    // Unregistered once gone: after a failure the exit's synchronous removal still tries.
    removing ??= cleanupUnderWay(`removing ${path}`, rm(path, { recursive: true, force: true })).then(() => unregister());
    return removing;
  };
  const unregister = opts.register === false
    ? () => undefined
    : registerCleanup(`temp dir ${path}`, withSyncFallback(remove, () => removeSync(path, opts.manyFiles ?? false), opts.manyFiles ? 'last-resort' : 'equivalent'));
  return { path, remove, [Symbol.asyncDispose]: remove };
}

// At exit, where only synchronous work runs. Node 20's rmSync walks the tree in JavaScript, one call at a time
// (1,000 node roots: 4.5-7.9 s here, rm -rf 0.9-5 s), so a large tree goes to rm(1); a small one (a registry's
// blobs) does not wait for a process to start beside a busy heap (docs/scale.md: 0.65-1 s under load).
// A large tree is renamed first: threads still writing into it (by path) then fail rather than add to what rm(1)
// is removing, which made rm fail (not empty) and fall back to rmSync.
function removeSync(path: string, manyFiles: boolean): void {
  if (manyFiles) {
    const trash = `${path}.removing`;
    const gone = tryRename(path, trash) ? trash : path;
    if (spawnSync('rm', ['-rf', '--', gone], { stdio: 'ignore' }).status !== 0) rmSync(gone, { recursive: true, force: true });
  }
  rmSync(path, { recursive: true, force: true });
}

function tryRename(from: string, to: string): boolean {
  try {
    renameSync(from, to);
    return true;
  } catch {
    return false;
  }
}
