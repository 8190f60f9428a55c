import { readdirSync, readFileSync } from 'node:fs';

/**
 * Processes (but `except`) whose environment names `TMPDIR=dir`: whatever a run given that private temp dir started,
 * at any depth, daemonised or not. Processes not ours to read are skipped.
 */
export function processesWithTmp(dir: string, except: number[] = [process.pid]): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || except.includes(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`TMPDIR=${dir}`)) found.push(pid);
    } catch {
      /* gone, or not ours to read */
    }
  }
  return found;
}
