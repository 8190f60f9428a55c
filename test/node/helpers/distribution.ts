import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startProcess, type StartedProcess } from '../../../src/util/process.js';
import { makeTempDir } from '../../../src/util/temp.js';

/** Debian's docker-registry (distribution 2.8) on 127.0.0.1, storage in a temp dir, until the embedded registry lands. */
export interface TestRegistry extends AsyncDisposable {
  url: string;
  host: string;
  /** Registry access log lines (method + path) since start. */
  requests(): { method: string; path: string }[];
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startDistribution(): Promise<TestRegistry> {
  const dir = await makeTempDir('pbreg-');
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log: { level: info, accesslog: { disabled: false } }',
    `storage: { filesystem: { rootdirectory: ${dir.path}/data }, delete: { enabled: true } }`,
    `http: { addr: 127.0.0.1:${port} }`,
    '',
  ].join('\n');
  await writeFile(join(dir.path, 'config.yml'), config);
  let proc: StartedProcess;
  try {
    proc = await startProcess({
      label: 'docker-registry',
      command: 'docker-registry',
      args: ['serve', join(dir.path, 'config.yml')],
      ready: async () => (await fetch(`http://127.0.0.1:${port}/v2/`)).status === 200,
    });
  } catch (err) {
    await dir.remove();
    throw err;
  }
  const stop = async (): Promise<void> => {
    await proc.stop();
    await dir.remove();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests: () =>
      [...proc.logs().matchAll(/"(GET|HEAD|POST|PUT|PATCH|DELETE) (\/v2\/[^ ]*) HTTP/g)].map((m) => ({ method: m[1]!, path: m[2]! })),
    [Symbol.asyncDispose]: stop,
  };
}
