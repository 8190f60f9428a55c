import { mkdtemp, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerCleanup, withSyncFallback } from './cleanup.js';

export interface TempDir extends AsyncDisposable {
  readonly path: string;
  remove(): Promise<void>;
}

/** A temp dir removed on dispose, and also on Ctrl-C or process exit. */
export async function makeTempDir(prefix = 'pullbench-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  let removed = false;
  const remove = async (): Promise<void> => {
    if (removed) return;
    removed = true;
    unregister();
    await rm(path, { recursive: true, force: true });
  };
  const unregister = registerCleanup(
    `temp dir ${path}`,
    withSyncFallback(remove, () => rmSync(path, { recursive: true, force: true })),
  );
  return { path, remove, [Symbol.asyncDispose]: remove };
}
