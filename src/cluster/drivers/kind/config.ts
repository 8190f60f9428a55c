import { stringify as toYaml } from 'yaml';
import { assertDnsLabel } from '../../kube/manifests.js';

/** Where the kind nodes read containerd's registry host configuration. */
export const NODE_CERTS_DIR = '/etc/containerd/certs.d';

export interface KindClusterConfig {
  name: string;
  workers: number;
  /** Host directory holding `<host>/hosts.toml`, mounted on every node at /etc/containerd/certs.d. */
  certsDir: string;
  /** kindest/node image, e.g. `kindest/node:v1.31.0`; kind's default when absent. */
  nodeImage?: string;
}

/**
 * A kind cluster config that switches containerd to `config_path` (the
 * hosts.toml way of kind's local-registry guide,
 * https://kind.sigs.k8s.io/docs/user/local-registry; node images from kind
 * v0.27 set it already) and mounts the generated certs.d directory into every
 * node, where the guide writes it with `docker exec` after creation.
 */
export function kindConfigYaml(cfg: KindClusterConfig): string {
  assertDnsLabel('kind cluster name', cfg.name);
  const node = (role: 'control-plane' | 'worker'): Record<string, unknown> => ({
    role,
    ...(cfg.nodeImage ? { image: cfg.nodeImage } : {}),
    extraMounts: [{ hostPath: cfg.certsDir, containerPath: NODE_CERTS_DIR, readOnly: true }],
  });
  return toYaml({
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    name: cfg.name,
    containerdConfigPatches: [`[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${NODE_CERTS_DIR}"`],
    nodes: [node('control-plane'), ...Array.from({ length: cfg.workers }, () => node('worker'))],
  });
}
