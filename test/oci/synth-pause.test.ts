import { spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pauseBinary } from '../../src/oci/pause-binary.js';
import { findTool } from '../../src/util/tools.js';
import { makeTempDir, type TempDir } from '../../src/util/temp.js';
import { describeIf } from '../helpers/interop.js';

const hostArch = process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : undefined;
const otherArch = hostArch === 'amd64' ? 'arm64' : 'amd64';
const qemu = findTool(otherArch === 'arm64' ? 'qemu-aarch64-static' : 'qemu-x86_64-static');

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('pullbench-pause-');
});
afterAll(async () => {
  await tmp?.remove();
});

async function install(arch: string): Promise<string> {
  const path = join(tmp.path, `pause-${arch}`);
  await writeFile(path, pauseBinary(arch)!);
  await chmod(path, 0o755);
  return path;
}

/** Starts the executable, checks it still waits half a second later, sends the signals, and returns how it ended. */
async function runAndSignal(command: string[], signals: NodeJS.Signals[]): Promise<{ code: number | null; signal: string | null; ms: number }> {
  const child = spawn(command[0]!, command.slice(1), { stdio: 'ignore' });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  try {
    await new Promise((r) => setTimeout(r, 500));
    expect(child.exitCode).toBeNull();
    const started = Date.now();
    for (const s of signals) child.kill(s);
    const end = await exited;
    return { ...end, ms: Date.now() - started };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

describeIf(process.platform === 'linux' && hostArch !== undefined, 'runs on linux/amd64 and linux/arm64 hosts only', 'the pause executable on this host', () => {
  it('waits, and exits 0 at once on SIGTERM', async () => {
    const end = await runAndSignal([await install(hostArch!)], ['SIGTERM']);
    expect(end).toMatchObject({ code: 0, signal: null });
    expect(end.ms).toBeLessThan(1000);
  });

  it('exits 0 on SIGINT', async () => {
    expect(await runAndSignal([await install(hostArch!)], ['SIGINT'])).toMatchObject({ code: 0, signal: null });
  });

  it('keeps waiting through SIGSTOP and SIGCONT, then exits 0 on SIGTERM', async () => {
    expect(await runAndSignal([await install(hostArch!)], ['SIGSTOP', 'SIGCONT', 'SIGTERM'])).toMatchObject({ code: 0, signal: null });
  });
});

// Optional: CI does not install qemu-user-static; the other architecture's bytes are checked where it exists.
describeIf(qemu !== undefined, `needs ${otherArch === 'arm64' ? 'qemu-aarch64-static' : 'qemu-x86_64-static'} (apt-get install -y qemu-user-static)`, `the ${otherArch} pause executable under qemu-user`, () => {
  it('waits, and exits 0 on SIGTERM', async () => {
    const end = await runAndSignal([qemu!, await install(otherArch)], ['SIGTERM']);
    expect(end).toMatchObject({ code: 0, signal: null });
  });
}, false);
