import type { KubeEvent, PodObservation } from '../core/events.js';
import type { BasicCredentials } from '../oci/credentials.js';
import type { P2pStats } from '../node/p2p/index.js';

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
  /** Absent: left to the API server's defaulting (Always for `:latest` or no tag, else IfNotPresent). */
  imagePullPolicy?: ImagePullPolicy | undefined;
  /** Names of the scenario's pull secrets. */
  imagePullSecrets: string[];
  /** The container's environment (pod spec env): the container's, never the runtime's pull. */
  env?: readonly { name: string; value: string }[] | undefined;
  node: string;
  /** The workload's pool (its pods' nodeSelector on a real cluster: kubelet admits the pod only on a node of that pool). */
  pool?: string | undefined;
  expectFailure?: boolean;
}

/** A node pool: nodes alike in platform, links and kubelet settings (a real cluster's: by the pullbench.dev/pool label). */
export interface ClusterPool {
  name: string;
  nodes: readonly string[];
}

/** Bytes shaped links carried down to nodes, by source. */
export interface LinkBytes {
  registry: number;
  mirror: number;
  /** Topology p2p: bytes peers' uploads carried to nodes. */
  peers?: number;
}

/** Where a pod stands, as a controller sees it: Ready, stuck on an error, or on its way. */
export type PodCondition = 'pending' | 'ready' | 'failed';

/**
 * The Cluster port: what the rollout engine and the run need from any cluster
 * (emulated, model, kind, k3s, kubeconfig). Every driver produces the same
 * record: kubelet events and pod observations.
 */
export interface Cluster extends AsyncDisposable {
  readonly driver: string;
  readonly nodes: readonly string[];
  /** The nodes by pool, in order; every node is in exactly one (one pool named "default" where there are none). */
  readonly pools: readonly ClusterPool[];
  createPod(pod: PodCreate): void;
  /** Deletes a pod (a rolling update scaling an old revision down). */
  deletePod(uid: string): void;
  condition(uid: string): PodCondition;
  /** Called whenever some pod's condition changes, with its uid when the driver knows it; returns an unsubscribe function. */
  onChange(listener: (uid?: string) => void): () => void;
  /** Image references present on a node (CRI ListImages repo tags). */
  nodeImages(node: string): Promise<string[]>;
  events(): KubeEvent[];
  observations(): PodObservation[];
  /** Runtime and kubelet versions, for the results' environment. */
  versions(): Record<string, string>;
  /**
   * Pulls the images onto every node before a warm arm's rollout, the way its
   * pods would pull them (emulated: with `auth`; real: through the pull secrets
   * the cluster was opened with). Not part of the measured record.
   */
  prepull(images: string[], auth?: BasicCredentials): Promise<void>;
  /**
   * Makes sure no node holds the images before a cold arm's rollout: true when
   * the caches were emptied and checked (a real cluster), false when the nodes
   * started empty and there was nothing to do (a fresh emulated cluster).
   */
  makeCold(images: string[]): Promise<boolean>;
  /** Bytes the shaped links carried down to the nodes (of one pool with `pool`) so far, by source; zeros where pullbench shapes no link. */
  linkBytes(pool?: string): LinkBytes;
  /** Topology p2p (emulated clusters): what the P2P agents did; undefined elsewhere. */
  p2pStats?(): P2pStats | undefined;
  /** RUN_INVALID when the record is too thin to measure (a real cluster that lost events); a no-op where it is complete. */
  assertEnoughData(): void;
}
