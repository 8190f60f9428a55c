import type { PodTimeline } from './timeline.js';
import { PULL_CAUSES, type PullCause } from './pull-cause.js';

/**
 * A repetition's recovery: the time from the end of its last fault window until every pod meant to run was
 * Ready (0 when they all were before it ended); undefined when there was no fault, or some pod never became
 * Ready (it did not recover within the step's timeout).
 */
export function recoveryMs(pods: readonly PodTimeline[], faultEnds: readonly number[]): number | undefined {
  if (faultEnds.length === 0) return undefined;
  const end = Math.max(...faultEnds);
  let last = end;
  for (const p of pods) {
    if (p.expectFailure) continue;
    if (p.readyAt === undefined) return undefined;
    last = Math.max(last, p.readyAt);
  }
  return last - end;
}

/** Failed pull attempts by cause, over the pods (every cause present, 0 where none). */
export function failuresByCause(pods: readonly PodTimeline[]): Record<PullCause, number> {
  const out = Object.fromEntries(PULL_CAUSES.map((c) => [c, 0])) as Record<PullCause, number>;
  for (const p of pods) for (const f of p.pullFailures ?? []) out[f.cause] += f.count ?? 1;
  return out;
}
