import { PullbenchError } from '../errors.js';

type Testcontainers = typeof import('testcontainers');

let appliedDockerHost: string | undefined;

/**
 * Loads testcontainers configured for pullbench. Everything here must happen
 * before testcontainers is first imported, hence the dynamic import:
 * - Node's own fetch dispatcher is installed first: importing testcontainers
 *   loads undici 7, which otherwise becomes the global dispatcher and rejects
 *   requests Node 20's fetch builds (e.g. `content-length: 0` on a POST).
 * - Ryuk, testcontainers' reaper, is an image from Docker Hub; it is disabled
 *   and callers remove their containers themselves (registerCleanup).
 * - Containers use host networking on 127.0.0.1; without a host override,
 *   testcontainers running inside a container probes the `bridge` network
 *   (absent with --bridge=none) or runs alpine to find a gateway.
 * - DOCKER_HOST is read once per process, so one Docker endpoint per process.
 */
export async function loadTestcontainers(dockerHost?: string): Promise<Testcontainers> {
  void globalThis.Headers;
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';
  if (dockerHost !== undefined) {
    if (appliedDockerHost !== undefined && appliedDockerHost !== dockerHost) {
      throw new PullbenchError('INVALID_ARGUMENT', `testcontainers is already bound to ${appliedDockerHost}; one Docker endpoint per process`);
    }
    appliedDockerHost = dockerHost;
    process.env.DOCKER_HOST = dockerHost;
  }
  return import('testcontainers');
}
