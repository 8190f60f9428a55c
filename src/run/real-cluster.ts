import { randomBytes } from 'node:crypto';
import type { Cluster } from '../cluster/cluster.js';
import type { StartedRegistry } from '../registry/provider.js';
import type { Arm } from '../scenario/matrix.js';
import type { Scenario, Topology } from '../scenario/schema.js';
import { kindNetworkName } from '../cluster/drivers/kind/config.js';
import { scenarioPools } from '../scenario/fleet.js';

/** Aliases of the registry and mirror containers on the cluster's Docker network. */
const REGISTRY_ALIAS = 'pullbench-registry';
const MIRROR_ALIAS = 'pullbench-mirror';
// Pods of mirror arms name the registry by this host; only the nodes' containerd config knows it (mirror first, then the registry).
const VIA_MIRROR_HOST = 'via-mirror.pullbench.test:5000';
const DEFAULT_COLD_CACHE_IMAGE = 'busybox:1.36';

/** One real cluster for the whole run; a fresh namespace (a KubeCluster) per repetition. */
export interface RealRun extends AsyncDisposable {
  /** The host pods name in image references for this topology. */
  imageHost(topology: Topology): string;
  /** Upstream URL a mirror container uses to reach the registry container. */
  readonly registryNetworkUrl?: string;
  /** A fresh namespace for one repetition of an arm: the Cluster port over it (pull secrets and the cold-cache image from the scenario). */
  open(arm: Arm, repetition: number): Promise<Cluster>;
}

/** The Docker network registry and mirror containers join for a real driver, or undefined (host networking). */
export function containerNetwork(scenario: Scenario, role: 'registry' | 'mirror'): { name: string; aliases: string[] } | undefined {
  const d = scenario.cluster.driver;
  if (d !== 'kind' && d !== 'k3s') return undefined;
  return { name: d === 'kind' ? kindNetworkName() : 'pullbench', aliases: [role === 'registry' ? REGISTRY_ALIAS : MIRROR_ALIAS] };
}

/**
 * Prepares the Docker network before the registry container starts (kind and
 * k3s). Dispose it after the cluster and the containers on it: a network this
 * call created is removed again (kind's `kind` network too, unless a kept
 * cluster still uses it); one that existed before stays.
 */
export async function prepareNetwork(scenario: Scenario): Promise<AsyncDisposable> {
  const net = containerNetwork(scenario, 'registry');
  if (!net) return { [Symbol.asyncDispose]: async () => undefined };
  const { ensureDockerNetwork, KIND_NETWORK_OPTIONS } = await import('../docker/network.js');
  return ensureDockerNetwork(net.name, scenario.cluster.driver === 'kind' ? { driverOptions: KIND_NETWORK_OPTIONS } : {});
}

/**
 * Starts (kind, k3s) or connects to (kubeconfig) the scenario's cluster, with
 * the nodes' containerd routed to the registry and mirror containers.
 * @kubernetes/client-node is loaded only here, only for real drivers.
 */
export async function startRealRun(scenario: Scenario, registry: StartedRegistry): Promise<RealRun> {
  const c = scenario.cluster;
  const driver = c.driver as 'kind' | 'k3s' | 'kubeconfig';
  const { startRealCluster } = await import('../cluster/kube/real-cluster.js');
  const { KubeCluster } = await import('../cluster/kube/kube-cluster.js');
  const net = containerNetwork(scenario, 'registry');
  const registryHost = net ? `${REGISTRY_ALIAS}:5000` : registry.host;
  const registryNetworkUrl = net ? `http://${REGISTRY_ALIAS}:5000` : undefined;
  const routes = net
    ? [
        { host: registryHost, endpoint: registryNetworkUrl! },
        ...(scenario.mirror ? [{ host: VIA_MIRROR_HOST, endpoint: registryNetworkUrl!, mirrors: [`http://${MIRROR_ALIAS}:5000`] }] : []),
      ]
    : undefined;
  const kube = await startRealCluster({
    driver,
    nodes: c.nodes,
    ...(routes ? { routes } : {}),
    ...(c.kubeconfig ? { kubeconfig: c.kubeconfig } : {}),
    ...(c.context ? { context: c.context } : {}),
    ...(c.keep !== undefined ? { keep: c.keep } : {}),
    ...(c.nodeImage ? { image: c.nodeImage } : {}),
    ...(driver === 'k3s' && net ? { network: net.name } : {}),
    kubelet: c.kubelet,
    // kind labels each pool's workers (pullbench.io/pool), which KubeCluster reads back as the cluster's pools.
    ...(c.pools ? { pools: scenarioPools(scenario).map((p) => ({ name: p.name, workers: p.nodes, kubelet: p.kubelet })) } : {}),
  });
  const runId = randomBytes(3).toString('hex');
  const prefix = c.namespacePrefix ?? 'pullbench';
  // KubeCluster disposes the cluster it wraps; per repetition it gets a view whose dispose leaves the cluster running.
  const view = { ...kube, [Symbol.asyncDispose]: async () => undefined };
  return {
    imageHost: (topology) => (topology === 'mirror' ? VIA_MIRROR_HOST : registryHost),
    ...(registryNetworkUrl ? { registryNetworkUrl } : {}),
    async open(arm, repetition) {
      const index = armIndex(scenario, arm);
      const host = arm.topology === 'mirror' ? VIA_MIRROR_HOST : registryHost;
      return KubeCluster.start(view, {
        namespace: `${prefix}-${runId}-${index}-${repetition}`.slice(0, 63),
        runId: `${runId}-${index}-${repetition}`,
        pullSecrets: new Map(scenario.pullSecrets.map((p) => [p.name, { registry: host, username: p.username, password: p.password }])),
        ...(c.command ? { command: c.command } : {}),
        coldCacheImage: c.coldCacheImage ?? DEFAULT_COLD_CACHE_IMAGE,
      });
    },
    [Symbol.asyncDispose]: () => kube[Symbol.asyncDispose](),
  };
}

function armIndex(scenario: Scenario, arm: Arm): number {
  const { pullPolicy, topology, cache } = scenario.matrix;
  return (pullPolicy.indexOf(arm.pullPolicy) * topology.length + topology.indexOf(arm.topology)) * cache.length + cache.indexOf(arm.cache);
}
