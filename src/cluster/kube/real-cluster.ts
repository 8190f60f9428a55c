import { PullbenchError } from '../../errors.js';
import type { RegistryRoute } from './registry-routes.js';
import type { StartedKubeCluster } from './started-cluster.js';
import { unappliableSettings, type KindPool, type RealKubeletSettings } from './kubelet-settings.js';

export interface RealClusterOptions {
  driver: 'kind' | 'k3s' | 'kubeconfig';
  /** Worker nodes to create (kind); k3s runs one server node; kubeconfig uses what exists. */
  nodes: number;
  /** How nodes reach the scenario's registry and mirror (hosts.toml for kind, registries.yaml for k3s). */
  routes?: RegistryRoute[];
  /** Containers to put on kind's network (the registry and mirror containers). */
  connectContainers?: string[];
  kubeconfig?: string;
  context?: string;
  keep?: boolean;
  dockerHost?: string;
  /** Docker network the k3s server joins (where the registry containers are). */
  network?: string;
  name?: string;
  image?: string;
  /** The scenario's kubelet and containerd settings: kind and k3s clusters are created with them. */
  kubelet?: RealKubeletSettings;
  /** kind: node pools (each pool's workers labelled by pool, with its own kubelet flags) instead of `nodes` workers. */
  pools?: KindPool[];
}

/**
 * Starts (kind, k3s) or connects to (kubeconfig) a real cluster by driver
 * name, for `pullbench run`: wrap the result in KubeCluster to get the
 * Cluster port. Each driver is imported only when used (kind needs the CLI,
 * k3s loads testcontainers).
 */
export async function startRealCluster(o: RealClusterOptions): Promise<StartedKubeCluster> {
  // The scenario loader refuses these first; a library caller gets the same refusal before anything starts.
  const refused = unappliableSettings(o.driver, o.kubelet ?? {});
  if (refused.length > 0) {
    throw new PullbenchError('INVALID_ARGUMENT', `cluster.kubelet cannot be applied to a ${o.driver} cluster: ${refused.map((r) => `${r.field}: ${r.why}`).join('; ')}`, {
      details: { fields: refused.map((r) => r.field) },
    });
  }
  switch (o.driver) {
    case 'kind': {
      const { startKind } = await import('../drivers/kind/driver.js');
      return startKind({
        name: o.name ?? 'pullbench',
        workers: o.nodes,
        ...(o.image ? { nodeImage: o.image } : {}),
        ...(o.routes ? { routes: o.routes } : {}),
        ...(o.connectContainers ? { connectContainers: o.connectContainers } : {}),
        ...(o.keep !== undefined ? { keep: o.keep } : {}),
        ...(o.dockerHost ? { dockerHost: o.dockerHost } : {}),
        ...(o.kubelet ? { kubelet: o.kubelet } : {}),
        ...(o.pools ? { pools: o.pools } : {}),
      });
    }
    case 'k3s': {
      if (o.pools) throw new PullbenchError('INVALID_ARGUMENT', 'the k3s driver runs a single server node: it has no pools; use cluster.nodes: 1');
      if (o.nodes !== 1) throw new PullbenchError('INVALID_ARGUMENT', 'the k3s driver runs a single server node; set cluster.nodes: 1');
      const { startK3s } = await import('../drivers/k3s/driver.js');
      return startK3s({ ...(o.kubelet ? { kubelet: o.kubelet } : {}), ...(o.image ? { image: o.image } : {}), ...(o.routes ? { routes: o.routes } : {}), ...(o.dockerHost ? { dockerHost: o.dockerHost } : {}), ...(o.network ? { network: o.network } : {}) });
    }
    case 'kubeconfig': {
      if (o.pools) throw new PullbenchError('INVALID_ARGUMENT', 'an existing cluster (driver kubeconfig) has its own nodes: pools cannot create them; remove cluster.pools');
      const { connectKubeconfig } = await import('../drivers/kubeconfig/driver.js');
      return connectKubeconfig({ ...(o.kubeconfig ? { kubeconfigPath: o.kubeconfig } : {}), ...(o.context ? { context: o.context } : {}) });
    }
  }
}
