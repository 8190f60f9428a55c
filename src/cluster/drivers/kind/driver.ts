import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PullbenchError } from '../../../errors.js';
import { registerCleanup } from '../../../util/cleanup.js';
import { makeTempDir } from '../../../util/temp.js';
import { findTool } from '../../../util/tools.js';
import { certsDirName, hostsToml, type RegistryRoute } from '../../kube/registry-routes.js';
import { loadKubeConfig } from '../../kube/session.js';
import { sessionOpener, type StartedKubeCluster } from '../../kube/started-cluster.js';
import { kindConfigYaml } from './config.js';

const execFileAsync = promisify(execFile);

export interface KindDriverOptions {
  name: string;
  workers?: number;
  nodeImage?: string;
  routes?: RegistryRoute[];
  /** Containers (ids or names) to connect to kind's `kind` network, e.g. the registry and mirror. */
  connectContainers?: string[];
  /** Keep the cluster after the run (`keep: true` in the scenario). */
  keep?: boolean;
  /** DOCKER_HOST for kind and docker. */
  dockerHost?: string;
  createTimeoutMs?: number;
}

/** Creates a kind cluster whose containerd reads hosts.toml for the scenario's registry and mirror. */
export async function startKind(opts: KindDriverOptions): Promise<StartedKubeCluster> {
  const kind = findTool('kind');
  const docker = findTool('docker');
  if (!kind || !docker) {
    throw new PullbenchError('DRIVER_UNAVAILABLE', `the kind driver needs ${[!kind && 'kind', !docker && 'docker'].filter(Boolean).join(' and ')} on PATH`);
  }
  const env = { ...process.env, ...(opts.dockerHost ? { DOCKER_HOST: opts.dockerHost } : {}) };
  const run = (bin: string, args: string[], timeout = 120_000): Promise<{ stdout: string; stderr: string }> =>
    execFileAsync(bin, args, { env, timeout, maxBuffer: 16 * 1024 * 1024 });

  const dir = await makeTempDir('pbkind-');
  const certsDir = join(dir.path, 'certs.d');
  await mkdir(certsDir);
  for (const route of opts.routes ?? []) {
    await mkdir(join(certsDir, certsDirName(route.host)), { recursive: true });
    await writeFile(join(certsDir, certsDirName(route.host), 'hosts.toml'), hostsToml(route));
  }
  const configPath = join(dir.path, 'kind.yaml');
  await writeFile(configPath, kindConfigYaml({ name: opts.name, workers: opts.workers ?? 1, certsDir, nodeImage: opts.nodeImage }));

  let created = false;
  const teardown = async (): Promise<void> => {
    unregister();
    try {
      if (created && !opts.keep) await run(kind, ['delete', 'cluster', '--name', opts.name]);
    } finally {
      // With keep, the nodes still mount certs.d from here; leave it for them.
      if (!opts.keep) await dir.remove();
    }
  };
  const unregister = registerCleanup(`kind cluster ${opts.name}`, teardown);
  try {
    created = true;
    await run(kind, ['create', 'cluster', '--config', configPath, '--wait', '120s'], opts.createTimeoutMs ?? 600_000);
    for (const c of opts.connectContainers ?? []) {
      await run(docker, ['network', 'connect', 'kind', c]).catch((err: { stderr?: string }) => {
        if (!String(err.stderr).includes('already exists')) throw err;
      });
    }
    const { stdout } = await run(kind, ['get', 'kubeconfig', '--name', opts.name]);
    const kc = loadKubeConfig({ kubeconfigText: stdout });
    let stopping: Promise<void> | undefined;
    return {
      driver: 'kind',
      kubeConfig: kc,
      criSocket: '/run/containerd/containerd.sock',
      crictl: 'crictl',
      session: sessionOpener(kc),
      [Symbol.asyncDispose]: () => (stopping ??= teardown()),
    };
  } catch (err) {
    await teardown().catch(() => undefined);
    const e = err as { stderr?: string; message: string };
    throw new PullbenchError('CLUSTER_ERROR', `kind cluster ${opts.name}: ${(e.stderr ?? e.message).trim().split('\n').slice(-5).join('\n')}`, {
      cause: err,
    });
  }
}
