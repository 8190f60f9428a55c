import type { Clock } from '../core/clock.js';

/**
 * The one timer a flow network keeps for its next completion: re-armed after every solve, kept as it is when the next
 * completion falls on the instant it is already set for (most solves move nothing that ends first).
 */
export class CompletionTimer {
  private timer: unknown;
  private timerAt = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  /** Fires `inMs` from now (Infinity: never). */
  arm(inMs: number): void {
    const at = this.clock.now() + inMs;
    if (at === this.timerAt) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (Number.isFinite(at)) {
      this.timer = this.clock.setTimer(() => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.fire();
      }, inMs);
    }
  }
}
