import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PullbenchError } from '../../../errors.js';
import { registerCleanup } from '../../../util/cleanup.js';
import { makeTempDir } from '../../../util/temp.js';
import { findTool } from '../../../util/tools.js';
import type { RegistryRoute } from '../../kube/registry-routes.js';
import { loadKubeConfig } from '../../kube/session.js';
import { sessionOpener, type StartedKubeCluster } from '../../kube/started-cluster.js';
import type { KindPool, RealKubeletSettings } from '../../kube/kubelet-settings.js';
import { connectSteps, kindConfigYaml, nodeRegistrySteps, type DockerStep } from './config.js';

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
  /** Kubelet and containerd settings every node is created with. */
  kubelet?: RealKubeletSettings;
  /** Node pools instead of `workers`: labelled workers per pool, with the pool's own kubelet flags (kindConfigYaml). */
  pools?: KindPool[];
}

/**
 * Creates a kind cluster the way kind's local-registry guide does: containerd
 * switched to config_path, then hosts.toml for the scenario's registry and
 * mirror written into every node, then the registry containers connected to
 * the `kind` network (where they are not already). On dispose, failure and
 * Ctrl-C the cluster is deleted (unless `keep`), which takes the nodes'
 * hosts.toml with it; the registry containers and the network are their
 * owners' to remove.
 */
export async function startKind(opts: KindDriverOptions): Promise<StartedKubeCluster> {
  const kind = findTool('kind');
  const docker = findTool('docker');
  if (!kind || !docker) {
    throw new PullbenchError('DRIVER_UNAVAILABLE', `the kind driver needs ${[!kind && 'kind', !docker && 'docker'].filter(Boolean).join(' and ')} on PATH`);
  }
  const env = { ...process.env, ...(opts.dockerHost ? { DOCKER_HOST: opts.dockerHost } : {}) };
  const run = (bin: string, args: string[], timeout = 120_000): Promise<{ stdout: string; stderr: string }> =>
    execFileAsync(bin, args, { env, timeout, maxBuffer: 16 * 1024 * 1024 });
  const dockerStep = (step: DockerStep): Promise<{ stdout: string; stderr: string }> => {
    const p = execFileAsync(docker, step.args, { env, timeout: 60_000 });
    if (step.input !== undefined) p.child.stdin?.end(step.input);
    return p;
  };

  // The config first: what it refuses (a pool setting kind cannot apply per node) is refused before anything exists.
  const config = kindConfigYaml({ name: opts.name, workers: opts.workers ?? 1, nodeImage: opts.nodeImage, kubelet: opts.kubelet, pools: opts.pools });
  // Only the config file lives here, for `kind create`; the nodes keep nothing from it.
  const dir = await makeTempDir('pbkind-');
  const configPath = join(dir.path, 'kind.yaml');
  await writeFile(configPath, config);

  let created = false;
  const teardown = async (): Promise<void> => {
    unregister();
    try {
      if (created && !opts.keep) await run(kind, ['delete', 'cluster', '--name', opts.name]);
    } finally {
      await dir.remove();
    }
  };
  const unregister = registerCleanup(`kind cluster ${opts.name}`, teardown);
  try {
    created = true;
    await run(kind, ['create', 'cluster', '--config', configPath, '--wait', '120s'], opts.createTimeoutMs ?? 600_000);
    const nodes = (await run(kind, ['get', 'nodes', '--name', opts.name])).stdout.split('\n').map((s) => s.trim()).filter(Boolean);
    for (const step of nodeRegistrySteps(nodes, opts.routes ?? [])) await dockerStep(step);
    for (const step of connectSteps(opts.connectContainers ?? [])) {
      await dockerStep(step).catch((err: { stderr?: string }) => {
        // Already on the network (joined at creation): that is the goal.
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
