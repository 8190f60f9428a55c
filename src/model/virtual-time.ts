import { PullbenchError } from '../errors.js';
import type { ManualClock } from '../core/clock.js';

/**
 * Runs `work` in virtual time: a discrete-event loop that lets the woken tasks
 * run, then jumps the clock to the next timer and fires everything due then.
 * The work must wait on nothing but the clock (no sockets, no files), or the
 * loop would jump past it; when nothing is pending and the work is not done,
 * it has stalled and this says so. An abort ends the loop at its next turn with the signal's reason (the work,
 * left waiting on the clock, is dropped).
 */
export function runInVirtualTime<T>(clock: ManualClock, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    work().then(
      (value) => (outcome = { ok: true, value }),
      (error: unknown) => (outcome = { ok: false, error }),
    );
    // One turn per instant: every microtask the last instant set off runs before a setImmediate callback. A callback,
    // not an awaited promise per turn: a modelled run has millions of instants, and those promises were its garbage.
    // The abort as a flag: reading signal.aborted each turn was a measurable part of a turn's cost.
    let aborted = signal?.aborted ?? false;
    const onAbort = (): void => void (aborted = true);
    signal?.addEventListener('abort', onAbort, { once: true });
    // One instant; false when the loop is over (with `outcome` set).
    const step = (): boolean => {
      if (outcome) return false;
      if (aborted) signal!.throwIfAborted();
      if (!clock.fireNextInstant()) {
        throw new PullbenchError('INTERNAL', 'the model stalled: nothing is left to happen and the work is not done', {
          details: { virtualTimeMs: clock.now() },
        });
      }
      return true;
    };
    const turn = (): void => {
      try {
        if (step()) {
          setImmediate(turn);
          return;
        }
      } catch (error) {
        outcome = { ok: false, error };
      }
      signal?.removeEventListener('abort', onAbort);
      if (outcome!.ok) resolve(outcome!.value);
      else reject(outcome!.error);
    };
    setImmediate(turn);
  });
}
