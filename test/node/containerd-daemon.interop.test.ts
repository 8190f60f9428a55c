import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startContainerd, type StartedContainerd } from '../../src/node/containerd/daemon.js';
import { describeWithTools } from '../helpers/interop.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describeWithTools(['containerd', 'ctr'], 'a containerd started for one node', () => {
  let daemon: StartedContainerd | undefined;
  afterAll(async () => daemon?.stop());

  it('answers ctr version, reads hosts.toml from its own certs.d, and leaves nothing behind when stopped', async () => {
    daemon = await startContainerd({
      label: 'test-node',
      hostsToml: { '127.0.0.1:5999': 'server = "http://127.0.0.1:5999"\n' },
    });
    expect(Buffer.byteLength(daemon.socket)).toBeLessThan(100);
    expect(daemon.version).toMatch(/^\d+\.\d+/);
    expect(['overlayfs', 'native']).toContain(daemon.snapshotter);
    const { stdout } = await daemon.ctr(['plugins', 'ls']);
    expect(stdout).toMatch(/io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok/);
    expect(await readFile(join(daemon.certsDir, '127.0.0.1:5999', 'hosts.toml'), 'utf8')).toContain('5999');

    const pid = daemon.pid;
    expect(alive(pid)).toBe(true);
    const dir = join(daemon.root, '..');
    await daemon.stop();
    expect(existsSync(dir)).toBe(false);
    expect(alive(pid)).toBe(false);
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    expect(mounts).not.toContain(dir);
  });

  it('reports a failed ctr call as PROCESS_FAILED', async () => {
    await using d = await startContainerd({ label: 'test-node-2' });
    await expect(d.ctr(['no-such-command'])).rejects.toMatchObject({ code: 'PROCESS_FAILED' });
  });
});
