import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasImagePullProgressTimeout, startContainerd, type StartedContainerd } from '../../src/node/containerd/daemon.js';
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

  it("applies image_pull_progress_timeout to a containerd that has it (1.7+), and refuses it, naming the field, before starting one that has not", async () => {
    const start = startContainerd({ label: 'test-node-3', imagePullProgressTimeoutMs: 90_000 });
    const installed = await start.then(
      async (d) => {
        const config = await readFile(join(d.root, '..', 'config.toml'), 'utf8');
        await d.stop();
        expect(hasImagePullProgressTimeout(d.version)).toBe(true);
        expect(config).toContain('image_pull_progress_timeout = "1m30s"');
        return d.version;
      },
      (err: { code: string; details: { field: string; containerd: string } }) => {
        expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'cluster.kubelet.imagePullProgressTimeout' } });
        expect(hasImagePullProgressTimeout(err.details.containerd)).toBe(false);
        return err.details.containerd;
      },
    );
    expect(installed).toMatch(/^\d+\.\d+/);
  });
});

describe('which containerd releases read image_pull_progress_timeout', () => {
  it('1.7.0 added it; 1.6 has none', () => {
    expect(['1.6.20~ds1', '1.6.38', 'v1.7.0', '1.7.29', '2.0.7', '2.1.4'].map(hasImagePullProgressTimeout)).toEqual([false, false, true, true, true, true]);
  });
});
