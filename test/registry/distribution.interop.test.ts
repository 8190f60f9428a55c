import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { distributionRegistry, embeddedRegistry } from '../../src/registry/provider.js';
import { makeTempDir, type TempDir } from '../../src/util/temp.js';
import { describeWithTools } from '../helpers/interop.js';
import { writeOciLayout } from './oci-layout.js';

const run = promisify(execFile);

async function sameBlobs(a: string, b: string): Promise<void> {
  const names = (await readdir(join(a, 'blobs', 'sha256'))).sort();
  expect((await readdir(join(b, 'blobs', 'sha256'))).sort()).toEqual(names);
  for (const n of names) {
    expect((await readFile(join(a, 'blobs', 'sha256', n))).equals(await readFile(join(b, 'blobs', 'sha256', n)))).toBe(true);
  }
}

describeWithTools(['docker-registry', 'skopeo'], "Debian's docker-registry and the embedded registry", () => {
  let tmp: TempDir;
  beforeAll(async () => {
    tmp = await makeTempDir();
  });
  afterAll(async () => tmp.remove());

  it('docker-registry as a pull-through proxy of the embedded registry serves a pull', async () => {
    await using origin = await embeddedRegistry.start({ storage: 'memory' });
    await using proxy = await distributionRegistry.start({ upstream: { url: origin.url } });
    expect(proxy.version()).toMatch(/^distribution \d+\.\d+\.\d+/);
    const src = join(tmp.path, 'p-src');
    const out = join(tmp.path, 'p-out');
    await writeOciLayout(src, 'v1');
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${origin.host}/library/app:v1`]);
    origin.resetStats();
    proxy.resetStats();
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${proxy.host}/library/app:v1`, `oci:${out}:v1`]);
    await sameBlobs(src, out);
    expect(origin.stats().blobGet).toBeGreaterThanOrEqual(3);
    // Counted from docker-registry's own log: what it served to skopeo.
    await vi.waitFor(() => expect(proxy.stats().blobGet).toBe(3), { timeout: 5000 });
    expect(proxy.stats().manifestGet).toBeGreaterThanOrEqual(1);
    expect(proxy.stats().bytesServed).toBeGreaterThan(0);
  });

  it('the distribution provider with htpasswd users round-trips an image', async () => {
    const user = { username: 'carol', password: 'pw-789' };
    await using dist = await distributionRegistry.start({ users: [user] });
    const src = join(tmp.path, 'd-src');
    const out = join(tmp.path, 'd-out');
    await writeOciLayout(src, 'v1');
    await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', 'carol:pw-789', `oci:${src}:v1`, `docker://${dist.host}/team/app:v1`]);
    const anon = await fetch(`${dist.url}/v2/team/app/manifests/v1`);
    expect(anon.status).toBe(401);
    await run('skopeo', ['copy', '--src-tls-verify=false', '--src-creds', 'carol:pw-789', `docker://${dist.host}/team/app:v1`, `oci:${out}:v1`]);
    await sameBlobs(src, out);
  });

  it('counts from its log every response sent before statsCaughtUp(), without auth and with htpasswd users', async () => {
    const user = { username: 'dave', password: 'pw-counted' };
    for (const users of [[], [user]]) {
      await using dist = await distributionRegistry.start({ users });
      const authorization = users.length ? `Basic ${Buffer.from('dave:pw-counted').toString('base64')}` : undefined;
      for (let round = 0; round < 3; round++) {
        dist.resetStats();
        // 40 HEADs at once, each answered (404, no such image) before the read.
        const statuses = await Promise.all(
          Array.from({ length: 40 }, async () => {
            const res = await fetch(`${dist.url}/v2/none/manifests/v${round}`, { method: 'HEAD', headers: authorization ? { authorization } : {} });
            return res.status;
          }),
        );
        expect(new Set(statuses)).toEqual(new Set([404]));
        const t0 = performance.now();
        await dist.statsCaughtUp!();
        // Caught up on the marked request's log line, not on the 2 s give-up.
        expect(performance.now() - t0).toBeLessThan(1500);
        // The marked GET /v2/ is counted as no kind.
        expect(dist.stats()).toMatchObject({ manifestHead: 40, manifestGet: 0, blobGet: 0, blobHead: 0 });
      }
    }
  });

  it('the embedded registry in mirror mode serves a pull from docker-registry', async () => {
    await using origin = await distributionRegistry.start({});
    await using mirror = await embeddedRegistry.start({ storage: 'filesystem', upstream: { url: origin.url } });
    const src = join(tmp.path, 'm-src');
    const out = join(tmp.path, 'm-out');
    await writeOciLayout(src, 'v1');
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${origin.host}/library/app:v1`]);
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${mirror.host}/library/app:v1`, `oci:${out}:v1`]);
    await sameBlobs(src, out);
    expect(mirror.stats().upstreamBlobGet).toBe(3);
  });
});
