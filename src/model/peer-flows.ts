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
  // The solver's working arrays, by link (see solve).
  private readonly open: Int32Array;
  private readonly left: Float64Array;
  private readonly at: Int32Array;
  private members = new Int32Array(0);

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
    this.open = new Int32Array(2 * nodes);
    this.left = new Float64Array(2 * nodes);
    this.at = new Int32Array(2 * nodes);
  }

  /** Moves `bytes` from node `from` to node `to`; resolves when the last byte is there. */
  transfer(from: number, to: number, bytes: number): Promise<void> {
    this.uploaded[from]! += bytes;
    this.received += bytes;
    if (bytes <= 0) return Promise.resolve();
    return new Promise((done) => {
      this.sync();
      this.flows.push({ from, to, left: bytes, rate: 0, done });
      // Solved once for every flow that starts at this instant (a wave of piece requests starts hundreds together).
      this.completion.arm(0);
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

  // Links 0..n-1 are the uploads, n..2n-1 the downloads; each link's flows as a slice of one index array (built per
  // solve in two passes over the flows), its free capacity and unfrozen flows in arrays kept between solves.
  private solve(): void {
    const n = this.nodes;
    const { flows, open, left, at } = this;
    const touched: number[] = [];
    for (const f of flows) {
      f.rate = -1;
      for (const l of [f.from, n + f.to]) {
        if (open[l] === 0) touched.push(l);
        open[l]!++;
      }
    }
    let pos = 0;
    for (const l of touched) {
      at[l] = pos;
      pos += open[l]!;
    }
    if (this.members.length < pos) this.members = new Int32Array(2 * pos);
    const members = this.members;
    const fill = at.slice();
    flows.forEach((f, i) => {
      members[fill[f.from]!++] = i;
      members[fill[n + f.to]!++] = i;
    });
    // Fair shares by link, ties by link (a fixed order, so that runs repeat).
    const heap = new MinHeap<[number, number]>((a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]));
    for (const l of touched) {
      left[l] = l < n ? this.uploadBytesPerMs : this.downloadBytesPerMs;
      heap.push([left[l]! / open[l]!, l]);
    }
    while (heap.size > 0) {
      const [share, l] = heap.pop()!;
      const count = open[l]!;
      if (count === 0 || share !== left[l]! / count) continue;
      for (let j = at[l]!; j < fill[l]!; j++) {
        const f = flows[members[j]!]!;
        if (f.rate >= 0) continue;
        f.rate = share;
        const other = f.from === l ? n + f.to : f.from;
        const c = --open[other]!;
        left[other] = Math.max(0, left[other]! - share);
        if (c > 0) heap.push([left[other]! / c, other]);
      }
      open[l] = 0;
    }
    let next = Infinity;
    for (const f of this.flows) next = Math.min(next, f.rate === Infinity ? 0 : Math.max(0, f.left) / f.rate);
    this.completion.arm(next);
  }

  private complete(): void {
    this.sync();
    const finished: PeerFlow[] = [];
    let kept = 0;
    for (const f of this.flows) {
      // Done when what is left would take less than the clock can tell apart (a flow just started has rate 0: not done).
      if (f.left > 1e-6 + f.rate * TIME_EPSILON_MS) this.flows[kept++] = f;
      else finished.push(f);
    }
    this.flows.length = kept;
    this.solve();
    // In the order they began, so that the same run wakes its waiters in the same order.
    for (const f of finished) f.done();
  }
}
