import { stringify as toYaml } from 'yaml';
import { PullbenchError } from '../../../errors.js';
import { assertDnsLabel, POOL_LABEL } from '../../kube/manifests.js';
import { kindPoolKubeletArgs, kindSettingsPatches, unappliablePoolSettings, type KindPool, type RealKubeletSettings } from '../../kube/kubelet-settings.js';
import { certsDirName, hostsToml, type RegistryRoute } from '../../kube/registry-routes.js';

/** The Docker network kind puts its nodes on: `kind`, or what KIND_EXPERIMENTAL_DOCKER_NETWORK names. */
export function kindNetworkName(env: NodeJS.ProcessEnv = process.env): string {
  return env.KIND_EXPERIMENTAL_DOCKER_NETWORK || 'kind';
}

/** Where the kind nodes' containerd reads registry host configuration (`config_path`). */
const NODE_CERTS_DIR = '/etc/containerd/certs.d';

export interface KindClusterConfig {
  name: string;
  workers: number;
  /** kindest/node image, e.g. `kindest/node:v1.31.0`; kind's default when absent. */
  nodeImage?: string | undefined;
  /** Kubelet and containerd settings of every node (kindSettingsPatches). */
  kubelet?: RealKubeletSettings | undefined;
  /** Node pools (instead of `workers`): each pool's workers labelled pullbench.io/pool=<name>, with the pool's own kubelet flags. */
  pools?: KindPool[] | undefined;
}

// A worker of a pool: the pool label (kind's nodes[].labels) and, for settings the pool does not share with the
// cluster, kubelet flags in a per-node JoinConfiguration patch (kind applies nodes[].kubeadmConfigPatches to that node only).
function poolWorker(base: Record<string, unknown>, cluster: RealKubeletSettings, pool: KindPool): Record<string, unknown> {
  assertDnsLabel('pool name', pool.name);
  const args = kindPoolKubeletArgs(cluster, pool.kubelet);
  const patch = Object.keys(args).length > 0 ? [toYaml({ kind: 'JoinConfiguration', nodeRegistration: { kubeletExtraArgs: args } })] : [];
  return { ...base, labels: { [POOL_LABEL]: pool.name }, ...(patch.length ? { kubeadmConfigPatches: patch } : {}) };
}

/**
 * A kind cluster config that switches containerd to `config_path` (step 2 of
 * kind's local-registry guide, https://kind.sigs.k8s.io/docs/user/local-registry;
 * node images from kind v0.27 set it already, older ones need the patch).
 */
export function kindConfigYaml(cfg: KindClusterConfig): string {
  assertDnsLabel('kind cluster name', cfg.name);
  const node = (role: 'control-plane' | 'worker'): Record<string, unknown> => ({ role, ...(cfg.nodeImage ? { image: cfg.nodeImage } : {}) });
  const settings = kindSettingsPatches(cfg.kubelet ?? {});
  const refused = (cfg.pools ?? []).flatMap((p) => unappliablePoolSettings(cfg.kubelet ?? {}, p.kubelet).map((r) => `pool ${p.name}: ${r.field}: ${r.why}`));
  if (refused.length > 0) throw new PullbenchError('INVALID_ARGUMENT', `kind cannot give a pool these settings of its own: ${refused.join('; ')}`);
  const workers = cfg.pools
    ? cfg.pools.flatMap((p) => Array.from({ length: p.workers }, () => poolWorker(node('worker'), cfg.kubelet ?? {}, p)))
    : Array.from({ length: cfg.workers }, () => node('worker'));
  return toYaml({
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    name: cfg.name,
    containerdConfigPatches: [`[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${NODE_CERTS_DIR}"`, ...settings.containerdConfigPatches],
    ...(settings.kubeadmConfigPatches.length ? { kubeadmConfigPatches: settings.kubeadmConfigPatches } : {}),
    nodes: [node('control-plane'), ...workers],
  });
}

/** One `docker` invocation; `input` goes to its stdin. */
export interface DockerStep {
  args: string[];
  input?: string;
}

/**
 * Step 3 of kind's guide: write `certs.d/<host>/hosts.toml` into every node
 * with `docker exec`, after the cluster exists. containerd reads hosts.toml
 * at each pull, so no restart is needed. The endpoints are names on the
 * `kind` network (e.g. `http://pullbench-registry:5000`), which the nodes
 * resolve through Docker's DNS; `localhost` would be the node itself.
 */
export function nodeRegistrySteps(nodes: string[], routes: RegistryRoute[]): DockerStep[] {
  const steps: DockerStep[] = [];
  for (const node of nodes) {
    for (const route of routes) {
      const dir = `${NODE_CERTS_DIR}/${certsDirName(route.host)}`;
      steps.push({ args: ['exec', node, 'mkdir', '-p', dir] });
      steps.push({ args: ['exec', '-i', node, 'cp', '/dev/stdin', `${dir}/hosts.toml`], input: hostsToml(route) });
    }
  }
  return steps;
}

/**
 * Step 4: `docker network connect kind <container>` (kind's network) for containers not on the
 * network yet (pullbench's registry and mirror containers usually join it at
 * creation, under their aliases; this is for containers started elsewhere).
 */
export function connectSteps(containers: string[], network = kindNetworkName()): DockerStep[] {
  return containers.map((c) => ({ args: ['network', 'connect', network, c] }));
}
