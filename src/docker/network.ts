import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PullbenchError } from '../errors.js';
import { registerCleanup } from '../util/cleanup.js';
import { findTool } from '../util/tools.js';

const execFileAsync = promisify(execFile);

/** Runs the docker CLI; rejects with `{ stderr }` on a non-zero exit (the seam unit tests replace). */
export type DockerCli = (args: string[]) => Promise<{ stdout: string; stderr: string }>;

/** A Docker network pullbench made sure exists; disposing removes it only if pullbench created it. */
export interface EnsuredDockerNetwork extends AsyncDisposable {
  readonly name: string;
  /** True when this call created the network (and so removes it again). */
  readonly created: boolean;
  /**
   * Removes the network if this call created it. Returns `kept` when it still has
   * containers (e.g. a kind cluster kept with `keep: true`): those need it.
   */
  remove(): Promise<'removed' | 'kept' | 'not-ours'>;
}

export interface EnsureNetworkOptions {
  /** DOCKER_HOST for the docker CLI. */
  dockerHost?: string;
  /** `docker network create` options, e.g. kind's `com.docker.network.bridge.enable_ip_masquerade=true`. */
  driverOptions?: Record<string, string>;
  /** Replaces the docker CLI (tests). */
  docker?: DockerCli;
}

/** The options kind itself creates its `kind` network with (IPv4 only here; kind adds an IPv6 ULA subnet where it can). */
export const KIND_NETWORK_OPTIONS: Record<string, string> = { 'com.docker.network.bridge.enable_ip_masquerade': 'true' };

function dockerCli(dockerHost: string | undefined, what: string): DockerCli {
  const docker = findTool('docker');
  if (!docker) throw new PullbenchError('DRIVER_UNAVAILABLE', `docker is not on PATH; it is needed for ${what}`);
  const env = { ...process.env, ...(dockerHost ? { DOCKER_HOST: dockerHost } : {}) };
  return (args) => execFileAsync(docker, args, { env, timeout: 60_000 });
}

const stderrOf = (err: unknown): string => String((err as { stderr?: string }).stderr ?? (err as Error).message ?? '').trim();

/**
 * Makes sure a Docker network exists, so registry containers can join it
 * before the cluster is created (kind reuses a `kind` network it finds; k3s
 * joins `pullbench`). Only a network this call created is removed afterwards:
 * on dispose, and on Ctrl-C through registerCleanup.
 */
export async function ensureDockerNetwork(name: string, opts: EnsureNetworkOptions = {}): Promise<EnsuredDockerNetwork> {
  const docker = opts.docker ?? dockerCli(opts.dockerHost, `the Docker network ${name}`);
  const exists = await docker(['network', 'inspect', '--format', '{{.Name}}', name]).then(
    () => true,
    () => false,
  );
  let created = false;
  if (!exists) {
    const options = Object.entries(opts.driverOptions ?? {}).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
    created = await docker(['network', 'create', '--driver', 'bridge', ...options, name]).then(
      () => true,
      (err: unknown) => {
        // Someone else created it between our inspect and create: theirs, not ours to remove.
        if (stderrOf(err).includes('already exists')) return false;
        throw new PullbenchError('CLUSTER_ERROR', `docker network create ${name}: ${stderrOf(err)}`, { cause: err });
      },
    );
  }
  let removing: Promise<'removed' | 'kept' | 'not-ours'> | undefined;
  const remove = (): Promise<'removed' | 'kept' | 'not-ours'> =>
    (removing ??= (async () => {
      unregister();
      if (!created) return 'not-ours';
      return docker(['network', 'rm', name]).then(
        () => 'removed' as const,
        (err: unknown) => {
          const text = stderrOf(err);
          if (/no such network|not found/i.test(text)) return 'removed' as const;
          if (/active endpoints/i.test(text)) return 'kept' as const;
          throw new PullbenchError('CLUSTER_ERROR', `docker network rm ${name}: ${text}`, { cause: err });
        },
      );
    })());
  const unregister = created ? registerCleanup(`docker network ${name}`, async () => void (await remove())) : () => undefined;
  return {
    name,
    created,
    remove,
    [Symbol.asyncDispose]: async () => void (await remove()),
  };
}
