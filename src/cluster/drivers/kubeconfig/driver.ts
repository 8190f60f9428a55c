import { loadKubeConfig, type KubeTarget } from '../../kube/session.js';
import { sessionOpener, type StartedKubeCluster } from '../../kube/started-cluster.js';

export interface KubeconfigDriverOptions extends KubeTarget {
  /** CRI socket on the nodes (containerd's default when absent). */
  criSocket?: string;
  crictl?: string;
}

/**
 * An existing cluster, by kubeconfig path and context. pullbench creates only
 * its own namespace there and removes it afterwards; the cluster itself is
 * never changed or deleted.
 */
export function connectKubeconfig(opts: KubeconfigDriverOptions): StartedKubeCluster {
  const kc = loadKubeConfig(opts);
  return {
    driver: 'kubeconfig',
    kubeConfig: kc,
    criSocket: opts.criSocket ?? '/run/containerd/containerd.sock',
    crictl: opts.crictl ?? 'crictl',
    session: sessionOpener(kc),
    [Symbol.asyncDispose]: async () => undefined,
  };
}
