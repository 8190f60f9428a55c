/**
 * The observable record that every cluster produces and one parser measures
 * (see STYLE.md). Emulated nodes write exactly the strings a real kubelet
 * writes; real-cluster drivers convert core/v1 Events into this shape.
 */
export type EventType = 'Normal' | 'Warning';

export interface ObjectRef {
  kind: 'Pod' | 'Node' | 'Deployment' | 'ReplicaSet' | 'DaemonSet';
  namespace?: string;
  name: string;
  uid: string;
  /** For pod events about one container: `spec.containers{name}` as kubelet sets it. */
  fieldPath?: string;
}

export interface KubeEvent {
  type: EventType;
  /** kubelet reason: Scheduled, Pulling, Pulled, Failed, BackOff, Created, Started, ErrImageNeverPull, ... */
  reason: string;
  /** The exact kubelet message, e.g. `Successfully pulled image "x" in 1.234s (1.5s including waiting). Image size: 123 bytes.` */
  message: string;
  involvedObject: ObjectRef;
  /** Reporting component and host, e.g. { component: 'kubelet', host: 'node-3' }. */
  source: { component: string; host?: string };
  /** Milliseconds since the epoch (wall clock, or virtual clock for emulated runs). */
  timestamp: number;
  /** How many times this event was seen (kubelet aggregates repeats). */
  count?: number;
}

export type ContainerWaitingReason =
  | 'ContainerCreating'
  | 'ErrImagePull'
  | 'ImagePullBackOff'
  | 'ErrImageNeverPull'
  | 'InvalidImageName'
  | 'RegistryUnavailable'
  | 'SignatureValidationFailed';

export interface EventSink {
  emit(event: KubeEvent): void;
}

/**
 * What a cluster knows about a pod besides its events: creation, node, and
 * readiness (the Ready condition's transition time on a real cluster).
 */
export interface PodObservation {
  uid: string;
  name: string;
  namespace: string;
  /** The rollout step (scenario `rollouts[].name`) that created the pod. */
  rollout: string;
  image: string;
  node?: string;
  /** Milliseconds since the epoch (creationTimestamp). */
  createdAt: number;
  /** When the pod became Ready, if it did. */
  readyAt?: number;
  /** When the pod was deleted (scaled down by a rolling update), if it was. */
  deletedAt?: number;
  /** The container's waiting reason at the end, if it never ran. */
  waitingReason?: ContainerWaitingReason | string;
  /** The scenario expects this pod not to start (e.g. a wrong pull secret). */
  expectFailure?: boolean;
}
