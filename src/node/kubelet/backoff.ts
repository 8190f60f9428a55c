import type { Clock } from '../../core/clock.js';

interface Entry {
  backoffMs: number;
  lastUpdate: number;
}

/**
 * client-go's flowcontrol.Backoff as kubelet uses it for image pulls: per key,
 * the first failure waits `initialMs`, each further one doubles up to `maxMs`;
 * an entry idle for more than 2*max starts over.
 */
export class Backoff {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly clock: Clock,
    readonly initialMs = 10_000,
    readonly maxMs = 300_000,
  ) {}

  /** True while less than the current backoff has passed since the last failure. */
  isInBackOffSinceUpdate(key: string, now = this.clock.now()): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    if (this.hasExpired(e, now)) return false;
    return now - e.lastUpdate < e.backoffMs;
  }

  /** Records a failure: starts or doubles the backoff. */
  next(key: string, now = this.clock.now()): void {
    const e = this.entries.get(key);
    if (!e || this.hasExpired(e, now)) {
      this.entries.set(key, { backoffMs: this.initialMs, lastUpdate: now });
    } else {
      e.backoffMs = Math.min(e.backoffMs * 2, this.maxMs);
      e.lastUpdate = now;
    }
  }

  /** Current backoff for a key (0 when none), for status and tests. */
  get(key: string): number {
    return this.entries.get(key)?.backoffMs ?? 0;
  }

  /** Drops entries idle for more than 2*max, as kubelet does after each successful pull. */
  gc(now = this.clock.now()): void {
    for (const [key, e] of this.entries) if (this.hasExpired(e, now)) this.entries.delete(key);
  }

  private hasExpired(e: Entry, now: number): boolean {
    return now - e.lastUpdate > 2 * this.maxMs;
  }
}
