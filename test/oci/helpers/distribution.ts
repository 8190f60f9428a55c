import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startProcess, type StartedProcess } from '../../../src/util/process.js';
import { makeTempDir, type TempDir } from '../../../src/util/temp.js';

/** Debian's docker-registry (distribution 2.8) on 127.0.0.1, filesystem storage in a temp dir, deletes enabled. */
export interface StartedDistribution extends AsyncDisposable {
  readonly url: string;
  readonly host: string;
  readonly process: StartedProcess;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export async function startDistribution(extraConfig = ''): Promise<StartedDistribution> {
  const dir: TempDir = await makeTempDir('pullbench-distribution-');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir.path, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${host}`,
    extraConfig,
  ].join('\n');
  await writeFile(join(dir.path, 'config.yml'), config);
  const url = `http://${host}`;
  let proc: StartedProcess;
  try {
    proc = await startProcess({
      label: `docker-registry ${host}`,
      command: 'docker-registry',
      args: ['serve', join(dir.path, 'config.yml')],
      ready: async () => (await fetch(`${url}/v2/`)).status < 500,
      readyTimeoutMs: 20_000,
    });
  } catch (err) {
    await dir.remove();
    throw err;
  }
  const dispose = async (): Promise<void> => {
    await proc.stop();
    await dir.remove();
  };
  return { url, host, process: proc, [Symbol.asyncDispose]: dispose };
}
