import { createHash } from 'node:crypto';
import type { ContainerWaitingReason, EventSink, EventType, KubeEvent } from '../core/events.js';
import { PullbenchError } from '../errors.js';
import { seededRandom, type Clock } from '../core/clock.js';
import { ImageManager, type ImagePullConfig } from './kubelet/image-manager.js';
import { defaultPullPolicy, type PullPolicy } from './kubelet/policy.js';
import { containerEventMessages } from './profiles.js';
import type { PullAuth, Runtime } from './runtime.js';

export type { ImagePullConfig } from './kubelet/image-manager.js';
export type { PullPolicy } from './kubelet/policy.js';

/** Where a pod's pull credentials come from: its imagePullSecrets as a keyring (see src/oci/credentials.ts). */
export interface CredentialSource {
  /** Credentials for an image, most specific first. */
  lookup(image: string): PullAuth[];
}

export interface ContainerSpec {
  name: string;
  image: string;
  /** Defaulted at creation as the API server does when omitted. */
  imagePullPolicy?: PullPolicy;
  /** The container's environment: for the container, never for the runtime's image pull (CRI passes none). */
  env?: readonly { name: string; value: string }[];
}

export interface PodSpec {
  uid: string;
  name: string;
  namespace: string;
  containers: ContainerSpec[];
  /** The pod's imagePullSecrets, resolved to a keyring. */
  pullSecrets?: CredentialSource;
}

export type ContainerState =
  | { state: 'waiting'; reason: ContainerWaitingReason | 'ImageInspectError'; message?: string }
  | { state: 'running'; startedAt: number };

export interface ContainerStatus {
  name: string;
  image: string;
  imagePullPolicy: PullPolicy;
  imageID?: string;
  status: ContainerState;
}

export interface PodStatus {
  uid: string;
  name: string;
  namespace: string;
  phase: 'Pending' | 'Running';
  containers: ContainerStatus[];
}

export interface NodeOptions extends ImagePullConfig {
  name: string;
  runtime: Runtime;
  clock: Clock;
  /** Receives every event as it is recorded (the node also keeps them; see events()). */
  sink?: EventSink;
  /** Node-level credentials (kubelet's config.json), tried after the pod's secrets. */
  nodeCredentials?: CredentialSource;
  /** Delay before a pod with failed containers is synced again: kubelet's pod worker backOffPeriod, 10 s, jittered. */
  syncRetryMs?: number;
  /** Random numbers in [0, 1) for the sync retry's jitter (default: seeded from the node's name, so runs repeat). */
  random?: () => number;
}

interface PodRecord {
  spec: PodSpec;
  containers: ContainerStatus[];
  deleted: boolean;
  running: Promise<void>;
}

/**
 * An emulated Kubernetes node: kubelet's pod sync for image pulls and container
 * start, over a Runtime, on an injected Clock, recording kubelet's events.
 */
export class EmulatedNode {
  readonly name: string;
  readonly images: ImageManager;
  private readonly pods = new Map<string, PodRecord>();
  private readonly recorded: KubeEvent[] = [];

  private readonly random: () => number;
  /** Every event's source: one object for the node's events. */
  private readonly source: KubeEvent['source'];

  constructor(private readonly opts: NodeOptions) {
    this.name = opts.name;
    this.source = { component: 'kubelet', host: opts.name };
    this.random = opts.random ?? seededRandom(createHash('sha256').update(opts.name).digest().readUInt32LE(0));
    this.images = new ImageManager(opts.runtime, opts.clock, opts);
  }

  /**
   * Admits a pod and syncs it until every container runs (retrying failed pulls
   * through kubelet's backoff) or it is deleted. Resolves when all containers run.
   */
  runPod(spec: PodSpec): Promise<void> {
    const problems = validatePod(spec, this.pods.has(spec.uid));
    if (problems.length > 0) {
      return Promise.reject(
        new PullbenchError('INVALID_ARGUMENT', `invalid pod for ${this.name}: ${problems.join('; ')}`, { details: { problems } }),
      );
    }
    const containers = spec.containers.map<ContainerStatus>((c) => ({
      name: c.name,
      image: c.image,
      imagePullPolicy: c.imagePullPolicy ?? defaultPullPolicy(c.image),
      status: { state: 'waiting', reason: 'ContainerCreating' },
    }));
    const record: PodRecord = { spec, containers, deleted: false, running: Promise.resolve() };
    this.pods.set(spec.uid, record);
    record.running = this.syncLoop(record);
    return record.running;
  }

  /** Stops syncing a pod (pending retries end) and forgets it. */
  deletePod(uid: string): void {
    const pod = this.pods.get(uid);
    if (pod) pod.deleted = true;
    this.pods.delete(uid);
  }

  status(uid: string): PodStatus | undefined {
    const pod = this.pods.get(uid);
    if (!pod) return undefined;
    const running = pod.containers.every((c) => c.status.state === 'running');
    return {
      uid,
      name: pod.spec.name,
      namespace: pod.spec.namespace,
      phase: running ? 'Running' : 'Pending',
      containers: pod.containers.map((c) => ({ ...c, status: { ...c.status } })),
    };
  }

  /** Every event recorded so far, oldest first. */
  events(): KubeEvent[] {
    return [...this.recorded];
  }

  private async syncLoop(pod: PodRecord): Promise<void> {
    for (;;) {
      await this.syncPod(pod);
      if (pod.deleted || pod.containers.every((c) => c.status.state === 'running')) return;
      await this.opts.clock.sleep(jitter(this.opts.syncRetryMs ?? POD_SYNC_BACKOFF_MS, POD_SYNC_JITTER_FACTOR, this.random));
      if (pod.deleted) return;
    }
  }

  // kuberuntime SyncPod: start each container that is not running, in order; a failure does not stop the next.
  private async syncPod(pod: PodRecord): Promise<void> {
    const { spec } = pod;
    for (const c of pod.containers) {
      if (pod.deleted) return;
      if (c.status.state === 'running') continue;
      // One object reference for the container's events, shared: a modelled run keeps millions of events.
      const involved: KubeEvent['involvedObject'] = { kind: 'Pod', namespace: spec.namespace, name: spec.name, uid: spec.uid, fieldPath: `spec.containers{${c.name}}` };
      const record = (type: EventType, reason: string, message: string): void => this.record(involved, type, reason, message);
      const credentials = (): PullAuth[] => [
        ...(spec.pullSecrets?.lookup(c.image) ?? []),
        ...(this.opts.nodeCredentials?.lookup(c.image) ?? []),
      ];
      const result = await this.images.ensureImageExists(
        spec.uid,
        { name: c.name, image: c.image, imagePullPolicy: c.imagePullPolicy },
        credentials,
        record,
        { name: spec.name, namespace: spec.namespace, uid: spec.uid },
      );
      if (pod.deleted) return;
      if (!result.ok) {
        c.status = { state: 'waiting', reason: result.reason, message: result.message };
        record('Warning', 'Failed', `Error: ${result.reason}`);
        continue;
      }
      c.imageID = result.imageRef;
      const texts = containerEventMessages(this.images.profile, c.name);
      record('Normal', 'Created', texts.created);
      record('Normal', 'Started', texts.started);
      c.status = { state: 'running', startedAt: this.opts.clock.now() };
    }
  }

  private record(involvedObject: KubeEvent['involvedObject'], type: EventType, reason: string, message: string): void {
    const event: KubeEvent = { type, reason, message, involvedObject, source: this.source, timestamp: this.opts.clock.now() };
    this.recorded.push(event);
    this.opts.sink?.emit(event);
  }
}

/**
 * A pod whose sync failed (a container that did not start) is synced again after the pod worker's backOffPeriod
 * jittered by up to half of it: 10-15 s (pkg/kubelet/pod_workers.go completeWork:
 * `wait.Jitter(p.backOffPeriod, workerBackOffPeriodJitterFactor)`, backOffPeriod 10 s in kubelet.go; 1.31-1.35).
 */
const POD_SYNC_BACKOFF_MS = 10_000;
const POD_SYNC_JITTER_FACTOR = 0.5;

// apimachinery's wait.Jitter: d + random * factor * d.
function jitter(ms: number, factor: number, random: () => number): number {
  return ms + random() * factor * ms;
}

const POLICIES = new Set(['Always', 'IfNotPresent', 'Never']);

// Every problem at once, so a caller fixes them in one go.
function validatePod(spec: PodSpec, duplicate: boolean): string[] {
  const problems: string[] = [];
  if (typeof spec.uid !== 'string' || spec.uid === '') problems.push('uid must be a non-empty string');
  else if (duplicate) problems.push(`pod ${spec.uid} already exists`);
  if (typeof spec.name !== 'string' || spec.name === '') problems.push('name must be a non-empty string');
  if (typeof spec.namespace !== 'string' || spec.namespace === '') problems.push('namespace must be a non-empty string');
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) {
    problems.push('containers must list at least one container');
    return problems;
  }
  const names = new Set<string>();
  spec.containers.forEach((c, i) => {
    if (typeof c?.name !== 'string' || c.name === '') problems.push(`containers[${i}].name must be a non-empty string`);
    else if (names.has(c.name)) problems.push(`containers[${i}].name ${JSON.stringify(c.name)} is used twice`);
    else names.add(c.name);
    if (typeof c?.image !== 'string' || c.image === '') problems.push(`containers[${i}].image must be a non-empty string`);
    if (c?.imagePullPolicy !== undefined && !POLICIES.has(c.imagePullPolicy)) {
      problems.push(`containers[${i}].imagePullPolicy must be Always, IfNotPresent or Never`);
    }
  });
  return problems;
}
