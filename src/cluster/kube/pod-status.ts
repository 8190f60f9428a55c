import { PullbenchError } from '../../errors.js';
import type { PodCondition } from '../cluster.js';
import type { WireTime } from './event-conversion.js';

/** The fields of a Pod that the container-status fallback reads. */
export interface PodLike {
  metadata?: { uid?: string; name?: string; creationTimestamp?: WireTime };
  spec?: { nodeName?: string };
  status?: {
    conditions?: Array<{ type?: string; status?: string; lastTransitionTime?: WireTime }>;
    containerStatuses?: Array<{
      name?: string;
      image?: string;
      imageID?: string;
      state?: {
        waiting?: { reason?: string; message?: string };
        running?: { startedAt?: WireTime };
        terminated?: { startedAt?: WireTime; finishedAt?: WireTime; reason?: string };
      };
      lastState?: { terminated?: { startedAt?: WireTime } };
    }>;
  };
}

/**
 * What a pod's status alone can tell when its kubelet events were dropped
 * (events are best effort: rate-limited, aggregated, expired after an hour).
 * It can tell: created, scheduled, container started, ready, that the image
 * was resolved (imageID) and a failure reason. It cannot tell when the pull
 * started or ended, nor how long it took: the pull lies somewhere in
 * [scheduledAt, startedAt], and `pullUpperBoundMs` is that interval.
 */
export interface PodStatusTimeline {
  uid: string;
  name: string;
  node?: string;
  createdAt?: number | undefined;
  scheduledAt?: number;
  startedAt?: number;
  readyAt?: number | undefined;
  imageResolved: boolean;
  failureReason?: string;
  pullUpperBoundMs?: number;
}

function ms(t: WireTime): number | undefined {
  if (t === null || t === undefined || t === '') return undefined;
  const v = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

function conditionTime(pod: PodLike, type: string): number | undefined {
  const c = pod.status?.conditions?.find((x) => x.type === type && x.status === 'True');
  return ms(c?.lastTransitionTime);
}

export function timelineFromStatus(pod: PodLike): PodStatusTimeline {
  const cs = pod.status?.containerStatuses?.[0];
  const started = ms(cs?.state?.running?.startedAt) ?? ms(cs?.state?.terminated?.startedAt) ?? ms(cs?.lastState?.terminated?.startedAt);
  const scheduledAt = conditionTime(pod, 'PodScheduled');
  const waiting = cs?.state?.waiting?.reason;
  const failure = waiting && waiting !== 'ContainerCreating' && waiting !== 'PodInitializing' ? waiting : undefined;
  return {
    uid: pod.metadata?.uid ?? '',
    name: pod.metadata?.name ?? '',
    ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
    ...(ms(pod.metadata?.creationTimestamp) !== undefined ? { createdAt: ms(pod.metadata?.creationTimestamp) } : {}),
    ...(scheduledAt !== undefined ? { scheduledAt } : {}),
    ...(started !== undefined ? { startedAt: started } : {}),
    ...(conditionTime(pod, 'Ready') !== undefined ? { readyAt: conditionTime(pod, 'Ready') } : {}),
    imageResolved: Boolean(cs?.imageID),
    ...(failure ? { failureReason: failure } : {}),
    ...(scheduledAt !== undefined && started !== undefined ? { pullUpperBoundMs: started - scheduledAt } : {}),
  };
}

/**
 * Waiting reasons after which a pod will not become Ready without someone
 * changing something: the image cannot be had, or the container cannot be
 * created or keeps exiting (e.g. a `command` the image does not contain).
 * ErrImagePull and ContainerCreating are left pending: the kubelet retries them.
 */
const STUCK_REASONS: ReadonlySet<string> = new Set([
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
  'CrashLoopBackOff',
  'CreateFailed',
]);

/**
 * A pod's condition for the rollout engine: ready once the Ready condition is
 * True (no probe: the container runs, e.g. a synthesised image's `/pause`),
 * failed when it is stuck (STUCK_REASONS) or could not be created.
 */
export function podConditionOf(pod: PodLike | undefined, createError?: string): PodCondition {
  if (createError) return 'failed';
  const t = pod ? timelineFromStatus(pod) : undefined;
  if (t?.readyAt !== undefined) return 'ready';
  return t?.failureReason && STUCK_REASONS.has(t.failureReason) ? 'failed' : 'pending';
}

/** Share of pods (0..1) allowed to lack pull data before a run is invalid. */
const MAX_MISSING_SHARE = 0.1;

/**
 * Marks a run invalid (RUN_INVALID) when more than 10% of its pods have
 * neither a Pulled/Failed event nor a status that says how they ended.
 */
export function assertCoverage(podUids: string[], withData: ReadonlySet<string>): { missing: string[]; share: number } {
  const missing = podUids.filter((u) => !withData.has(u));
  const share = podUids.length === 0 ? 0 : missing.length / podUids.length;
  if (share > MAX_MISSING_SHARE) {
    throw new PullbenchError(
      'RUN_INVALID',
      `${missing.length} of ${podUids.length} pods (${Math.round(share * 100)}%) have no pull data (events dropped and no usable status); more than ${MAX_MISSING_SHARE * 100}% makes the run invalid`,
      { details: { missing: missing.length, pods: podUids.length } },
    );
  }
  return { missing, share };
}
