import type { Clock } from '../../core/clock.js';

/**
 * A token bucket as client-go's flowcontrol.NewTokenBucketRateLimiter: starts
 * full with `burst` tokens, refills at `qps` per second. kubelet wraps its image
 * service with one (registryPullQPS, registryBurst) and rejects when empty.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly clock: Clock,
    readonly qps: number,
    readonly burst: number,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  tryAccept(): boolean {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }
}
