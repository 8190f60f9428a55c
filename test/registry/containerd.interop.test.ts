import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startContainerd, type StartedContainerd } from '../../src/node/containerd/daemon.js';
import { startRegistryServer } from '../../src/registry/server.js';
import { makeTempDir, type TempDir } from '../../src/util/temp.js';
import { describeWithTools } from '../helpers/interop.js';
import { writeOciLayout } from './oci-layout.js';

const run = promisify(execFile);

describeWithTools(['containerd', 'ctr', 'skopeo'], 'containerd pulling from the embedded registry', () => {
  let tmp: TempDir;
  let containerd: StartedContainerd;
  beforeAll(async () => {
    tmp = await makeTempDir();
    containerd = await startContainerd({ label: 'registry-interop' });
  });
  afterAll(async () => {
    await containerd?.stop();
    await tmp.remove();
  });

  for (const auth of ['none', 'token'] as const) {
    it(`pulls and unpacks an image (auth ${auth})`, async () => {
      const user = { username: 'bob', password: 'pw-456' };
      await using reg = await startRegistryServer({ storage: 'filesystem', auth, users: [user] });
      const layout = join(tmp.path, `img-${auth}`);
      const { manifestDigest } = await writeOciLayout(layout, 'v1');
      const creds = auth === 'none' ? [] : ['--dest-creds', `${user.username}:${user.password}`];
      await run('skopeo', ['copy', '--dest-tls-verify=false', ...creds, `oci:${layout}:v1`, `docker://${reg.host}/ctr/app:v1`]);
      reg.resetStats();
      const ref = `${reg.host}/ctr/app:v1`;
      const userArgs = auth === 'none' ? [] : ['--user', `${user.username}:${user.password}`];
      await containerd.ctr(['image', 'pull', '--plain-http', ...userArgs, ref]);
      const { stdout } = await containerd.ctr(['image', 'ls']);
      expect(stdout).toContain(ref);
      expect(stdout).toContain(manifestDigest);
      const { stdout: content } = await containerd.ctr(['content', 'ls']);
      expect(content).toContain(manifestDigest);
      const stats = reg.stats();
      expect(stats.blobGet).toBeGreaterThanOrEqual(3);
      if (auth === 'token') expect(stats.token).toBeGreaterThan(0);
      // Unpacked: the snapshot exists for the image's top layer chain.
      const { stdout: snaps } = await containerd.ctr(['snapshot', '--snapshotter', containerd.snapshotter, 'ls']);
      expect(snaps.trim().split('\n').length).toBeGreaterThan(1);
      if (auth === 'none') {
        const missing = await containerd.ctr(['image', 'pull', '--plain-http', `${reg.host}/ctr/app:nope`]).then(
          () => 'pulled',
          (e: Error) => e.message,
        );
        expect(missing).toMatch(/not found/);
      }
    });
  }

  it('pulls through the embedded registry in mirror mode, each blob fetched upstream once', async () => {
    await using origin = await startRegistryServer({ storage: 'memory' });
    await using mirror = await startRegistryServer({ storage: 'filesystem', upstream: { url: origin.url } });
    const layout = join(tmp.path, 'img-mirror');
    await writeOciLayout(layout, 'v1', 3);
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${origin.host}/ctr/mirrored:v1`]);
    origin.resetStats();
    await containerd.ctr(['image', 'pull', '--plain-http', `${mirror.host}/ctr/mirrored:v1`]);
    const { stdout } = await containerd.ctr(['image', 'ls']);
    expect(stdout).toContain(`${mirror.host}/ctr/mirrored:v1`);
    // config + 3 layers, each fetched upstream exactly once
    expect(origin.stats().blobGet).toBe(4);
    expect(mirror.stats().upstreamBlobGet).toBe(4);
  });
});

