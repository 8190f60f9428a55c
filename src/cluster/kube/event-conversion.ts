import type { EventType, KubeEvent, ObjectRef } from '../../core/events.js';

/** A timestamp as client-node hands it over: a Date after deserialisation, an RFC 3339 string from a raw watch. */
export type WireTime = Date | string | null | undefined;

interface WireRef {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  fieldPath?: string;
}

interface WireSeries {
  count?: number;
  lastObservedTime?: WireTime;
}

/** The fields of core/v1 Event (CoreV1Event) that pullbench reads. */
export interface CoreV1EventLike {
  metadata?: { creationTimestamp?: WireTime | undefined; uid?: string | undefined; name?: string | undefined } | undefined;
  type?: string | undefined;
  reason?: string | undefined;
  message?: string | undefined;
  involvedObject: WireRef;
  source?: { component?: string | undefined; host?: string | undefined } | undefined;
  reportingComponent?: string | undefined;
  reportingInstance?: string | undefined;
  eventTime?: WireTime | undefined;
  firstTimestamp?: WireTime | undefined;
  lastTimestamp?: WireTime | undefined;
  count?: number | undefined;
  series?: WireSeries | undefined;
}

/** The fields of events.k8s.io/v1 Event (EventsV1Event) that pullbench reads. */
export interface EventsV1EventLike {
  metadata?: { creationTimestamp?: WireTime; uid?: string; name?: string };
  type?: string;
  reason?: string;
  note?: string;
  regarding?: WireRef;
  reportingController?: string;
  reportingInstance?: string;
  eventTime?: WireTime;
  deprecatedFirstTimestamp?: WireTime;
  deprecatedLastTimestamp?: WireTime;
  deprecatedCount?: number;
  deprecatedSource?: { component?: string; host?: string };
  series?: WireSeries;
}

const KINDS: ReadonlySet<string> = new Set(['Pod', 'Node', 'Deployment', 'ReplicaSet', 'DaemonSet']);

function millis(t: WireTime): number | undefined {
  if (t === null || t === undefined || t === '') return undefined;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  // The zero time (0001-01-01T00:00:00Z) is how Go serialises an unset Time.
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

function toRef(ref: WireRef | undefined): ObjectRef | undefined {
  if (!ref?.kind || !KINDS.has(ref.kind) || !ref.name || !ref.uid) return undefined;
  return {
    kind: ref.kind as ObjectRef['kind'],
    name: ref.name,
    uid: ref.uid,
    ...(ref.namespace ? { namespace: ref.namespace } : {}),
    ...(ref.fieldPath ? { fieldPath: ref.fieldPath } : {}),
  };
}

/**
 * When an event happened. A single occurrence is dated by `eventTime`
 * (microseconds, set by the events.k8s.io recorder) or else `firstTimestamp`
 * (seconds, what kubelet's legacy recorder sets). A repeated event
 * (count > 1 or a series) is an update about its latest occurrence:
 * `series.lastObservedTime`, else `lastTimestamp`.
 */
export function occurrenceTime(e: {
  eventTime?: WireTime | undefined;
  first?: WireTime | undefined;
  last?: WireTime | undefined;
  count?: number | undefined;
  series?: WireSeries | undefined;
  created?: WireTime | undefined;
}): number | undefined {
  const repeated = (e.count ?? 1) > 1 || e.series !== undefined;
  if (repeated) return millis(e.series?.lastObservedTime) ?? millis(e.last) ?? millis(e.eventTime) ?? millis(e.first) ?? millis(e.created);
  return millis(e.eventTime) ?? millis(e.first) ?? millis(e.last) ?? millis(e.created);
}

function eventType(t: string | undefined): EventType {
  return t === 'Warning' ? 'Warning' : 'Normal';
}

/** core/v1 Event -> KubeEvent; undefined for events about objects pullbench does not track or without a time. */
export function fromCoreV1Event(e: CoreV1EventLike): KubeEvent | undefined {
  const involvedObject = toRef(e.involvedObject);
  const timestamp = occurrenceTime({
    eventTime: e.eventTime,
    first: e.firstTimestamp,
    last: e.lastTimestamp,
    count: e.count,
    series: e.series,
    created: e.metadata?.creationTimestamp,
  });
  if (!involvedObject || timestamp === undefined || !e.reason) return undefined;
  const count = e.series?.count ?? e.count;
  const component = e.source?.component || e.reportingComponent || 'unknown';
  const host = e.source?.host || e.reportingInstance || undefined;
  return {
    type: eventType(e.type),
    reason: e.reason,
    message: e.message ?? '',
    involvedObject,
    source: host ? { component, host } : { component },
    timestamp,
    ...(count !== undefined ? { count } : {}),
  };
}

/** events.k8s.io/v1 Event -> KubeEvent (same rules; `note` is the message, `regarding` the object). */
export function fromEventsV1Event(e: EventsV1EventLike): KubeEvent | undefined {
  return fromCoreV1Event({
    metadata: e.metadata,
    type: e.type,
    reason: e.reason,
    message: e.note,
    involvedObject: e.regarding ?? {},
    source: e.deprecatedSource,
    reportingComponent: e.reportingController,
    reportingInstance: e.reportingInstance,
    eventTime: e.eventTime,
    firstTimestamp: e.deprecatedFirstTimestamp,
    lastTimestamp: e.deprecatedLastTimestamp,
    count: e.deprecatedCount,
    series: e.series,
  });
}

/**
 * Keeps events about the given pods only, matched by UID (a pod name can be
 * reused by a later pod, a UID never), and drops exact repeats that a
 * relist after a watch reconnect delivers again.
 */
export class PodEventFilter {
  private readonly seen = new Set<string>();
  constructor(private readonly podUids: () => ReadonlySet<string>) {}

  accept(event: KubeEvent, eventKey: string): boolean {
    if (event.involvedObject.kind !== 'Pod' || !this.podUids().has(event.involvedObject.uid)) return false;
    const key = `${eventKey}/${event.count ?? 1}/${event.timestamp}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }
}
