import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PullbenchError } from '../errors.js';
import { findTool } from '../util/tools.js';

const execFileAsync = promisify(execFile);

/**
 * Makes sure a Docker network exists (kind reuses a `kind` network it finds),
 * so registry containers can join it before the cluster is created.
 */
export async function ensureDockerNetwork(name: string, dockerHost?: string): Promise<void> {
  const docker = findTool('docker');
  if (!docker) throw new PullbenchError('DRIVER_UNAVAILABLE', `docker is not on PATH; it is needed to create the Docker network ${name}`);
  const env = { ...process.env, ...(dockerHost ? { DOCKER_HOST: dockerHost } : {}) };
  const exists = await execFileAsync(docker, ['network', 'inspect', name], { env }).then(
    () => true,
    () => false,
  );
  if (exists) return;
  await execFileAsync(docker, ['network', 'create', name], { env }).catch((err: { stderr?: string; message: string }) => {
    if (!String(err.stderr).includes('already exists')) {
      throw new PullbenchError('CLUSTER_ERROR', `docker network create ${name}: ${(err.stderr ?? err.message).trim()}`, { cause: err });
    }
  });
}
