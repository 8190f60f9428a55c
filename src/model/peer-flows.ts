import type { Clock } from '../core/clock.js';
import { MinHeap } from '../util/min-heap.js';
import { CompletionTimer } from './completion-timer.js';

interface PeerFlow {
  from: number;
  to: number;
  /** Bytes still to arrive. */
  left: number;
  rate: number;
  done: () => void;
}

const TIME_EPSILON_MS = 1e-3;

/**
 * The peer links of a P2P arm as flows: every node has an upload and a download of the same capacity (links.peer), and
 * a transfer from node a to node b crosses a's upload and b's download only (the live PeerNetwork shapes exactly these
 * two: a node serving ten peers splits its upload, a node fetching from three splits its download). Rates are max-min
 * fair over the flows, recomputed when one starts or ends. Unlike the registry side's FlowNetwork, the endpoints are
 * not alike (one node uploads to many, another to none), so each flow is solved on its own: water-filling with a
 * heap of the links' fair shares, which only rise as flows freeze, so a stale entry is skipped when popped.
 */
export class PeerFlows {
  private readonly flows: PeerFlow[] = [];
  private lastSync: number;
  private readonly completion: CompletionTimer;
  /** Bytes each node sent to its peers. */
  readonly uploaded: number[];
  /** Bytes the nodes received from their peers. */
  received = 0;
  /** Bytes each node's upload has carried so far, flows under way included up to now (what a host's tx counter reads). */
  private readonly carried: number[];

  constructor(
    private readonly clock: Clock,
    private readonly nodes: number,
    /** Each node's upload and download, bytes per ms. */
    private readonly uploadBytesPerMs: number,
    private readonly downloadBytesPerMs: number,
  ) {
    this.lastSync = clock.now();
    this.completion = new CompletionTimer(clock, () => this.complete());
    this.uploaded = new Array<number>(nodes).fill(0);
    this.carried = new Array<number>(nodes).fill(0);
  }

  /** Moves `bytes` from node `from` to node `to`; resolves when the last byte is there. */
  transfer(from: number, to: number, bytes: number): Promise<void> {
    this.uploaded[from]! += bytes;
    this.received += bytes;
    if (bytes <= 0) return Promise.resolve();
    return new Promise((done) => {
      this.sync();
      this.flows.push({ from, to, left: bytes, rate: 0, done });
      this.solve();
    });
  }

  /** Bytes node `node` has sent its peers up to now. */
  sent(node: number): number {
    this.sync();
    return this.carried[node]!;
  }

  private sync(): void {
    const now = this.clock.now();
    const dt = now - this.lastSync;
    if (dt <= 0) return;
    for (const f of this.flows) {
      const moved = Math.min(f.left, f.rate * dt);
      f.left -= f.rate * dt;
      this.carried[f.from]! += moved;
    }
    this.lastSync = now;
  }

  // Links 0..n-1 are the uploads, n..2n-1 the downloads.
  private solve(): void {
    const n = this.nodes;
    const members = new Map<number, PeerFlow[]>();
    for (const f of this.flows) {
      f.rate = -1;
      for (const l of [f.from, n + f.to]) {
        const list = members.get(l);
        if (list) list.push(f);
        else members.set(l, [f]);
      }
    }
    const left = new Map<number, number>();
    const open = new Map<number, number>();
    // Fair shares by link, ties by link (a fixed order, so that runs repeat).
    const heap = new MinHeap<[number, number]>((a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]));
    const cap = (l: number): number => (l < n ? this.uploadBytesPerMs : this.downloadBytesPerMs);
    for (const [l, list] of members) {
      left.set(l, cap(l));
      open.set(l, list.length);
      heap.push([cap(l) / list.length, l]);
    }
    while (heap.size > 0) {
      const [share, l] = heap.pop()!;
      const count = open.get(l)!;
      if (count === 0 || share !== left.get(l)! / count) continue;
      for (const f of members.get(l)!) {
        if (f.rate >= 0) continue;
        f.rate = share;
        const other = f.from === l ? n + f.to : f.from;
        const c = open.get(other)! - 1;
        const rest = Math.max(0, left.get(other)! - share);
        open.set(other, c);
        left.set(other, rest);
        if (c > 0) heap.push([rest / c, other]);
      }
      open.set(l, 0);
    }
    let next = Infinity;
    for (const f of this.flows) next = Math.min(next, f.rate === Infinity ? 0 : Math.max(0, f.left) / f.rate);
    this.completion.arm(next);
  }

  private complete(): void {
    this.sync();
    const finished: PeerFlow[] = [];
    for (let i = this.flows.length - 1; i >= 0; i--) {
      const f = this.flows[i]!;
      if (f.left > 1e-6 + f.rate * TIME_EPSILON_MS) continue;
      finished.push(f);
      this.flows.splice(i, 1);
    }
    this.solve();
    // In the order they began, so that the same run wakes its waiters in the same order.
    for (const f of finished.reverse()) f.done();
  }
}
