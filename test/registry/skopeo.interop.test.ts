import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRegistryServer, type RunningRegistryServer } from '../../src/registry/server.js';
import { makeTempDir, type TempDir } from '../../src/util/temp.js';
import { describeWithTools } from '../helpers/interop.js';
import { writeOciLayout } from './oci-layout.js';

const run = promisify(execFile);

async function blobFiles(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const base = join(dir, 'blobs', 'sha256');
  for (const name of await readdir(base)) out.set(name, await readFile(join(base, name)));
  return out;
}

describeWithTools(['skopeo'], 'skopeo and the embedded registry', () => {
  let tmp: TempDir;
  let reg: RunningRegistryServer;
  beforeAll(async () => {
    tmp = await makeTempDir();
  });
  afterAll(async () => {
    await reg?.close();
    await tmp.remove();
  });

  for (const auth of ['none', 'token'] as const) {
    it(`copies an image in and back out byte-identical (auth ${auth})`, async () => {
      reg = await startRegistryServer({ storage: 'filesystem', auth, users: [{ username: 'alice', password: 'pw-123' }] });
      const src = join(tmp.path, `src-${auth}`);
      const out = join(tmp.path, `out-${auth}`);
      const { manifestDigest } = await writeOciLayout(src, 'v1');
      const creds = auth === 'none' ? [] : ['--dest-creds', 'alice:pw-123'];
      await run('skopeo', ['copy', '--dest-tls-verify=false', ...creds, `oci:${src}:v1`, `docker://${reg.host}/skopeo/test:v1`]);
      const srcCreds = auth === 'none' ? [] : ['--src-creds', 'alice:pw-123'];
      await run('skopeo', ['copy', '--src-tls-verify=false', ...srcCreds, `docker://${reg.host}/skopeo/test:v1`, `oci:${out}:v1`]);
      const before = await blobFiles(src);
      const after = await blobFiles(out);
      expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
      for (const [name, data] of before) expect(after.get(name)!.equals(data), name).toBe(true);
      const { stdout } = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', ...(auth === 'none' ? [] : ['--creds', 'alice:pw-123']), `docker://${reg.host}/skopeo/test:v1`]);
      expect(stdout.length).toBeGreaterThan(0);
      expect(reg.stats().upload).toBeGreaterThan(0);
      expect(manifestDigest).toMatch(/^sha256:/);
      await reg.close();
    });
  }
});
