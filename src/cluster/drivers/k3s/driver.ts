import { PullbenchError } from '../../../errors.js';
import { registerCleanup } from '../../../util/cleanup.js';
import { DEFAULT_K3S_IMAGE } from '../../../docker/images.js';
import { loadTestcontainers } from '../../../docker/testcontainers.js';
import { registriesYaml, type RegistryRoute } from '../../kube/registry-routes.js';
import { k3sKubeletArgs, type RealKubeletSettings } from '../../kube/kubelet-settings.js';
import { loadKubeConfig } from '../../kube/session.js';
import { sessionOpener, type StartedKubeCluster } from '../../kube/started-cluster.js';

/** k3s image used when the scenario names none. */

export interface K3sDriverOptions {
  image?: string;
  routes?: RegistryRoute[];
  dockerHost?: string;
  /** Docker network to join (so that a registry container on it is reachable by alias). */
  network?: string;
  /** Kubelet settings of the node, as --kubelet-arg (k3sKubeletArgs). */
  kubelet?: RealKubeletSettings;
}

/** A single-node k3s server through @testcontainers/k3s, with registries.yaml for the scenario's mirror. */
export async function startK3s(opts: K3sDriverOptions = {}): Promise<StartedKubeCluster> {
  await loadTestcontainers(opts.dockerHost);
  // Imported after loadTestcontainers: the module loads testcontainers, which must be configured first.
  const { K3sContainer } = await import('@testcontainers/k3s');
  const image = opts.image ?? DEFAULT_K3S_IMAGE;
  let builder = new K3sContainer(image).withLabels({ 'io.pullbench.driver': 'k3s' });
  if (opts.routes?.length) {
    builder = builder.withCopyContentToContainer([
      { content: registriesYaml(opts.routes), target: '/etc/rancher/k3s/registries.yaml', mode: 0o600 },
    ]);
  }
  if (opts.network) builder = builder.withNetworkMode(opts.network);
  const kubeletArgs = k3sKubeletArgs(opts.kubelet ?? {});
  // K3sContainer's own command, with the kubelet's arguments after it.
  if (kubeletArgs.length) builder = builder.withCommand(['server', '--disable=traefik', ...kubeletArgs]);
  let started: Awaited<ReturnType<typeof builder.start>>;
  try {
    started = await builder.start();
  } catch (err) {
    throw new PullbenchError('CLUSTER_ERROR', `k3s from ${image} did not start: ${(err as Error).message}`, { details: { image } });
  }
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      unregister();
      await started.stop({ remove: true, removeVolumes: true, timeout: 5000 });
    })());
  const unregister = registerCleanup(`k3s ${image}`, stop);
  const kc = loadKubeConfig({ kubeconfigText: started.getKubeConfig() });
  return {
    driver: 'k3s',
    kubeConfig: kc,
    criSocket: '/run/k3s/containerd/containerd.sock',
    // k3s ships crictl as a multi-call link of the k3s binary.
    crictl: '/bin/crictl',
    session: sessionOpener(kc),
    [Symbol.asyncDispose]: stop,
  };
}
