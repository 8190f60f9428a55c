import type { KubeEvent, PodObservation } from '../core/events.js';

export type ImagePullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/** A pod as pullbench asks a cluster to run it: one container, on a chosen node. */
export interface PodCreate {
  uid: string;
  name: string;
  namespace: string;
  /** The scenario rollout step that created it (recorded on the observation). */
  rollout: string;
  /** Full image reference as the node pulls it, e.g. 127.0.0.1:41234/demo/app:v1. */
  image: string;
  imagePullPolicy: ImagePullPolicy;
  /** Names of the scenario's pull secrets. */
  imagePullSecrets: string[];
  node: string;
  expectFailure?: boolean;
}

/** Where a pod stands, as a controller sees it: Ready, stuck on an error, or on its way. */
export type PodCondition = 'pending' | 'ready' | 'failed';

/**
 * The Cluster port: what the rollout engine and the run need from any cluster
 * (emulated now; kind, k3s, kubeconfig later). Every driver produces the same
 * record: kubelet events and pod observations.
 */
export interface Cluster extends AsyncDisposable {
  readonly driver: string;
  readonly nodes: readonly string[];
  createPod(pod: PodCreate): void;
  /** Deletes a pod (a rolling update scaling an old revision down). */
  deletePod(uid: string): void;
  condition(uid: string): PodCondition;
  /** Called whenever some pod's condition changes; returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
  /** Image references present on a node (CRI ListImages repo tags). */
  nodeImages(node: string): Promise<string[]>;
  events(): KubeEvent[];
  observations(): PodObservation[];
  /** Runtime and kubelet versions, for the results' environment. */
  versions(): Record<string, string>;
}
