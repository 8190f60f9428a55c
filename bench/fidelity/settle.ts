import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Dirty plus under-writeback page cache, in bytes (0 where /proc/meminfo is missing). */
export async function dirtyBytes(): Promise<number> {
  let text: string;
  try {
    text = await readFile('/proc/meminfo', 'utf8');
  } catch {
    return 0;
  }
  let kb = 0;
  for (const m of text.matchAll(/^(Dirty|Writeback):\s+(\d+) kB$/gm)) kb += Number(m[2]);
  return kb * 1024;
}

/**
 * Puts the machine in the same state before every timed pull, whichever runtime
 * pulls: everything written so far (the registry's pushed blobs, the previous
 * pull's unsynced snapshot files, another runtime's metadata) is flushed with
 * `sync`, so no pull pays for writeback it did not cause, and then a fixed pause.
 * The pause matters on VMs with free page reporting (virtio-balloon): memory
 * freed by the previous pull's removal is handed back to the host after about
 * 2 s, and a pull that starts before that writes into still-backed pages while
 * one that starts after pays the host's page faults, about 1 ms per MB here.
 * After the pause every pull starts from the same, cold, memory.
 */
export async function settle(pauseMs = Number(process.env.PULLBENCH_SETTLE_MS ?? 3000)): Promise<void> {
  await run('sync');
  const deadline = Date.now() + 10_000;
  while ((await dirtyBytes()) > 4 * 1024 * 1024 && Date.now() < deadline) await sleep(100);
  await sleep(pauseMs);
}
