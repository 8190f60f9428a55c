import type { Clock } from '../../core/clock.js';

/** A host's upload as its dfdaemon measures it: bytes/s sent over the last full second (undefined: none yet), and its capacity. */
export interface HostTx {
  tx: number | undefined;
  max: number;
}

/**
 * How a dfdaemon picks, for each piece, one of the parents that hold it (dragonflyoss/client at ff17c0b,
 * dragonfly-client/src/resource/parent_selector.rs: ParentSelector): weighted at random, a parent's weight its host's
 * idle upload, max_tx_bandwidth - tx_bandwidth but at least a tenth of max (calculate_weight_by_network). The weights
 * come from each parent host's sync_host stream (dfdaemon_upload.rs: sync_host), whose first report arrives a second
 * after the parent is registered (sysinfo/network.rs: get_stats measures over DEFAULT_NETWORK_REFRESH_INTERVAL, 1 s);
 * until then a parent has the weight the scheduler's host record gives it, its announced upload, which on a cold
 * start is none: every parent alike.
 */
export class ParentSelector {
  /** When this dfdaemon first registered each parent host (register: one sync_host stream per host). */
  private readonly registeredAt = new Map<number, number>();

  constructor(
    private readonly clock: Clock,
    private readonly hostTx: (node: number) => HostTx,
    private readonly random: () => number = Math.random,
  ) {}

  register(parents: readonly number[]): void {
    const now = this.clock.now();
    for (const p of parents) if (!this.registeredAt.has(p)) this.registeredAt.set(p, now);
  }

  select(parents: readonly number[]): number {
    const weights = parents.map((p) => this.weight(p));
    const total = weights.reduce((a, b) => a + b, 0);
    if (!(total > 0)) return parents[Math.floor(this.random() * parents.length)]!;
    let r = this.random() * total;
    for (let i = 0; i < parents.length; i++) {
      r -= weights[i]!;
      if (r < 0) return parents[i]!;
    }
    return parents[parents.length - 1]!;
  }

  private weight(parent: number): number {
    const { tx, max } = this.hostTx(parent);
    const since = this.registeredAt.get(parent);
    const synced = since !== undefined && this.clock.now() - since >= SYNC_HOST_INTERVAL_MS;
    return Math.max(max - (synced ? (tx ?? 0) : 0), max / 10);
  }
}

/** sysinfo/network.rs: DEFAULT_NETWORK_REFRESH_INTERVAL, the window a host's upload is measured over and reported. */
export const SYNC_HOST_INTERVAL_MS = 1000;
