import type { KubeConfig } from '@kubernetes/client-node';
import { KubeSession } from './session.js';

/** A real cluster a driver has made available, and how its nodes run containers. */
export interface StartedKubeCluster extends AsyncDisposable {
  readonly driver: 'kind' | 'k3s' | 'kubeconfig';
  readonly kubeConfig: KubeConfig;
  /** Where `crictl` on a node finds containerd, for the cold-cache DaemonSet. */
  readonly criSocket: string;
  readonly crictl: string;
  /** Creates the run's own namespace; everything the run creates goes in it and goes with it. */
  session(namespace: string, runId: string): Promise<KubeSession>;
}

/** The common part: sessions are opened on the cluster's kubeconfig. */
export function sessionOpener(kc: KubeConfig): (namespace: string, runId: string) => Promise<KubeSession> {
  return (namespace, runId) => KubeSession.open(kc, namespace, runId);
}
