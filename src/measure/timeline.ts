import type { KubeEvent, PodObservation } from '../core/events.js';
import { parseGoDuration } from './go-duration.js';
import { pullCause, type PullCause } from './pull-cause.js';

/** One failed pull attempt: when kubelet reported it, and why (`count` > 1: a real cluster's event aggregated repeats). */
export interface PullFailure {
  at: number;
  cause: PullCause;
  count?: number;
}

/** One pod's life as the events and the pod object tell it. Times are ms since the epoch. */
export interface PodTimeline {
  uid: string;
  name: string;
  rollout: string;
  image: string;
  node?: string;
  createdAt: number;
  scheduledAt?: number;
  pullStartedAt?: number;
  pulledAt?: number;
  startedAt?: number;
  readyAt?: number;
  /** The runtime's pull time (kubelet's first duration). */
  pullMs?: number;
  /** Pull time including waiting in kubelet's pull queue (its second duration). */
  pullWithWaitingMs?: number;
  imageSizeBytes?: number;
  /** `Container image "x" already present on machine`: no pull happened. */
  alreadyPresent: boolean;
  /** How pull times were obtained: from the message, or from Pulling -> Pulled timestamps (oldest kubelets). */
  pullSource?: 'message' | 'timestamps';
  /** Failed pull attempts (`Failed to pull image ...` events). */
  pullErrors: number;
  /** Each failed pull attempt with its cause, in time order. */
  pullFailures?: PullFailure[];
  /** When each pull attempt started (kubelet's `Pulling` events): the gaps after failures are kubelet's back-off. */
  pullAttempts?: number[];
  /** Last error message of a failed pull, if any. */
  lastError?: string;
  outcome: 'ready' | 'failed' | 'pending';
  /** Why it did not run: the waiting reason (ErrImagePull, ImagePullBackOff, ErrImageNeverPull, ...). */
  failureReason?: string;
  expectFailure: boolean;
}

export interface PulledMessage {
  image: string;
  pullMs?: number;
  pullWithWaitingMs?: number;
  imageSizeBytes?: number;
}

const Q = '"((?:[^"\\\\]|\\\\.)*)"';
// kubelet >= 1.30: `... in 1.234s (1.5s including waiting). Image size: N bytes.`; 1.28-1.29 drop the size;
// earlier releases print `... in 1.234s` (time.Since the pull started, so waiting is included) or no duration at all.
const PULLED_RES = [
  new RegExp(`^Successfully pulled image ${Q} in (\\S+) \\((\\S+) including waiting\\)(?:\\. Image size: (\\d+) bytes\\.?)?$`),
  new RegExp(`^Successfully pulled image ${Q} in (\\S+?)\\.?$`),
  new RegExp(`^Successfully pulled image ${Q}$`),
];
const ALREADY_PRESENT_RE = new RegExp(`^Container image ${Q} already present on machine`);

/**
 * Parses the message of a kubelet `Pulled` event in any historical form;
 * undefined for messages that are not a successful pull.
 */
export function parsePulledMessage(message: string): PulledMessage | undefined {
  const [full, withDuration, bare] = PULLED_RES.map((re) => re.exec(message));
  if (full) {
    const pullMs = parseGoDuration(full[2]!);
    const waiting = parseGoDuration(full[3]!);
    if (pullMs === undefined || waiting === undefined) return undefined;
    return { image: full[1]!, pullMs, pullWithWaitingMs: waiting, ...(full[4] ? { imageSizeBytes: Number(full[4]) } : {}) };
  }
  if (withDuration) {
    const ms = parseGoDuration(withDuration[2]!);
    return ms === undefined ? undefined : { image: withDuration[1]!, pullMs: ms, pullWithWaitingMs: ms };
  }
  return bare ? { image: bare[1]! } : undefined;
}

/**
 * THE parser: kubelet-style events plus pod observations -> one timeline per
 * pod. Real clusters and the emulated one feed it the same shapes.
 */
export function buildTimelines(events: readonly KubeEvent[], pods: readonly PodObservation[]): PodTimeline[] {
  const byPod = new Map<string, KubeEvent[]>();
  for (const e of events) {
    if (e.involvedObject.kind !== 'Pod') continue;
    const list = byPod.get(e.involvedObject.uid);
    if (list) list.push(e);
    else byPod.set(e.involvedObject.uid, [e]);
  }
  return pods.map((pod) => timelineOf(pod, (byPod.get(pod.uid) ?? []).sort((a, b) => a.timestamp - b.timestamp)));
}

function timelineOf(pod: PodObservation, events: KubeEvent[]): PodTimeline {
  const t: PodTimeline = {
    uid: pod.uid,
    name: pod.name,
    rollout: pod.rollout,
    image: pod.image,
    ...(pod.node ? { node: pod.node } : {}),
    createdAt: pod.createdAt,
    alreadyPresent: false,
    pullErrors: 0,
    outcome: 'pending',
    expectFailure: pod.expectFailure ?? false,
  };
  const failures: PullFailure[] = [];
  const attempts: number[] = [];
  t.pullFailures = failures;
  t.pullAttempts = attempts;
  let lastErrorReason: string | undefined;
  let pullingAt: number | undefined;
  for (const e of events) {
    switch (e.reason) {
      case 'Scheduled':
        t.scheduledAt ??= e.timestamp;
        if (!t.node) {
          const node = / to (\S+)$/.exec(e.message)?.[1];
          if (node) t.node = node;
        }
        break;
      case 'Pulling':
        t.pullStartedAt ??= e.timestamp;
        pullingAt = e.timestamp;
        attempts.push(e.timestamp);
        break;
      case 'Pulled': {
        if (ALREADY_PRESENT_RE.test(e.message)) {
          t.alreadyPresent = true;
          break;
        }
        const parsed = parsePulledMessage(e.message);
        if (!parsed) break;
        t.pulledAt = e.timestamp;
        if (parsed.pullMs !== undefined) {
          t.pullMs = parsed.pullMs;
          t.pullWithWaitingMs = parsed.pullWithWaitingMs ?? parsed.pullMs;
          t.pullSource = 'message';
        } else if (pullingAt !== undefined) {
          t.pullMs = e.timestamp - pullingAt;
          t.pullWithWaitingMs = t.pullMs;
          t.pullSource = 'timestamps';
        }
        if (parsed.imageSizeBytes !== undefined) t.imageSizeBytes = parsed.imageSizeBytes;
        break;
      }
      case 'Failed': {
        if (e.message.startsWith('Failed to pull image')) {
          t.pullErrors += e.count ?? 1;
          t.lastError = e.message;
          failures.push({ at: e.timestamp, cause: pullCause(e.message), ...(e.count !== undefined && e.count > 1 ? { count: e.count } : {}) });
        }
        const reason = /^Error: (\w+)/.exec(e.message)?.[1];
        if (reason) lastErrorReason = reason;
        break;
      }
      case 'BackOff':
        if (e.message.startsWith('Back-off pulling image')) lastErrorReason = 'ImagePullBackOff';
        break;
      case 'ErrImageNeverPull':
      case 'InspectFailed':
        lastErrorReason = e.reason;
        break;
      case 'Started':
        t.startedAt ??= e.timestamp;
        break;
    }
  }
  if (pod.readyAt !== undefined) t.readyAt = pod.readyAt;
  if (t.readyAt !== undefined || t.startedAt !== undefined) {
    t.outcome = 'ready';
  } else {
    const reason = pod.waitingReason && pod.waitingReason !== 'ContainerCreating' ? pod.waitingReason : lastErrorReason;
    if (reason) {
      t.outcome = 'failed';
      t.failureReason = reason;
    }
  }
  return t;
}
