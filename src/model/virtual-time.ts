import { PullbenchError } from '../errors.js';
import type { ManualClock } from '../core/clock.js';

/** Lets every task woken so far run to its next wait: microtasks all run before a setImmediate callback. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs `work` in virtual time: a discrete-event loop that lets the woken tasks
 * run, then jumps the clock to the next timer and fires everything due then.
 * The work must wait on nothing but the clock (no sockets, no files), or the
 * loop would jump past it; when nothing is pending and the work is not done,
 * it has stalled and this says so. An abort ends the loop at its next turn with the signal's reason (the work,
 * left waiting on the clock, is dropped).
 */
export async function runInVirtualTime<T>(clock: ManualClock, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  work().then(
    (value) => (outcome = { ok: true, value }),
    (error: unknown) => (outcome = { ok: false, error }),
  );
  for (;;) {
    await settle();
    if (outcome) break;
    signal?.throwIfAborted();
    if (!clock.fireNextInstant()) {
      throw new PullbenchError('INTERNAL', 'the model stalled: nothing is left to happen and the work is not done', {
        details: { virtualTimeMs: clock.now() },
      });
    }
  }
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}
