import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

interface Syncer {
  child: ChildProcessByStdio<Writable, Readable, null>;
  lines: AsyncIterator<string>;
}

let syncer: Syncer | undefined;

/**
 * Runs `sync`, in one shell (started at the first call) for the whole run. Call
 * it once before the first untimed pull: starting a process forks this one
 * (libuv forks, then execs), which leaves every writable page of it
 * copy-on-write, and the pull that follows pays a page fault on its first
 * write to each. Forking `sync` itself before each timed pull gave the
 * embedded runtime's 10 MB pull 8,000-9,000 minor faults (400 without the
 * fork) and 200-270 ms of CPU (100-180 without), while containerd, in its own
 * process, paid none; and a helper started at the first settle still made the
 * first timed pull of the run the slowest (10 MB: 228 ms, then 143-183).
 */
export async function syncAll(): Promise<void> {
  syncer ??= startSyncer();
  const { child, lines } = syncer;
  // Held while a sync runs, let go between them.
  const out = child.stdout as unknown as Socket;
  out.ref();
  child.stdin.write('\n');
  const line = await lines.next().finally(() => out.unref());
  if (line.done) throw new Error('the sync helper exited');
}

function startSyncer(): Syncer {
  const child = spawn('sh', ['-c', 'while read -r _; do sync; echo synced; done'], { stdio: ['pipe', 'pipe', 'inherit'] });
  // A helper that has gone fails the next sync with "the sync helper exited", not with an EPIPE event.
  child.stdin.on('error', () => undefined);
  // It must not keep the bench alive once the bench is done; it ends when its stdin closes with this process.
  child.unref();
  for (const pipe of [child.stdin, child.stdout]) (pipe as unknown as Socket).unref();
  return { child, lines: createInterface({ input: child.stdout })[Symbol.asyncIterator]() };
}

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
  await syncAll();
  const deadline = Date.now() + 10_000;
  while ((await dirtyBytes()) > 4 * 1024 * 1024 && Date.now() < deadline) await sleep(100);
  await sleep(pauseMs);
}
