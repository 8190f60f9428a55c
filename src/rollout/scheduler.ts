/**
 * Places pods on identical nodes as the default scheduler ends up doing: the
 * least-loaded node wins (LeastAllocated/BalancedAllocation score equal nodes
 * by how full they are), then the node with fewest pods of the same workload
 * (the default PodTopologySpread by hostname). Ties go to the node after the
 * last one chosen, so equal nodes fill round-robin and runs are reproducible.
 */
export class SpreadScheduler {
  // By node index, in typed arrays: a burst of 500 pods scans 5,000 nodes per pod, and with Maps keyed by name that
  // held the event loop for seconds under load, so a Ctrl-C waited (docs/scale.md, Ctrl-C at scale).
  private readonly index = new Map<string, number>();
  private readonly load: Int32Array;
  private readonly byWorkload = new Map<string, Int32Array>();
  private readonly masks = new WeakMap<readonly string[], Uint8Array>();
  private cursor = 0;

  constructor(private readonly nodes: readonly string[]) {
    nodes.forEach((n, i) => this.index.set(n, i));
    this.load = new Int32Array(nodes.length);
  }

  /** The node for the workload's next pod; among `allowed` only when given (a nodeSelector). */
  schedule(workload: string, allowed?: readonly string[]): string {
    const only = allowed ? this.maskOf(allowed) : undefined;
    const perNode = this.perNodeOf(workload);
    const n = this.nodes.length;
    let best = -1;
    let bestLoad = Infinity;
    let bestOwn = Infinity;
    for (let i = 0; i < n; i++) {
      const j = this.cursor + i < n ? this.cursor + i : this.cursor + i - n;
      if (only && only[j] === 0) continue;
      const load = this.load[j]!;
      const own = perNode[j]!;
      if (load < bestLoad || (load === bestLoad && own < bestOwn)) {
        best = j;
        bestLoad = load;
        bestOwn = own;
      }
    }
    const chosen = best >= 0 ? this.nodes[best]! : (allowed?.[0] ?? this.nodes[0]!);
    const at = best >= 0 ? best : this.index.get(chosen);
    // A node outside the scheduler's list (an empty nodeSelector match) is never scanned: nothing to count.
    this.cursor = at === undefined ? 0 : (at + 1) % n;
    if (at !== undefined) {
      this.load[at]!++;
      perNode[at]!++;
    }
    return chosen;
  }

  /** A pod left the node (deleted). */
  release(node: string, workload: string): void {
    const at = this.index.get(node);
    if (at === undefined) return;
    this.load[at] = Math.max(0, this.load[at]! - 1);
    const perNode = this.byWorkload.get(workload);
    if (perNode) perNode[at] = Math.max(0, perNode[at]! - 1);
  }

  private perNodeOf(workload: string): Int32Array {
    let perNode = this.byWorkload.get(workload);
    if (!perNode) this.byWorkload.set(workload, (perNode = new Int32Array(this.nodes.length)));
    return perNode;
  }

  // A workload's node list is the same array on every call (its pool's nodes): its mask is made once.
  private maskOf(allowed: readonly string[]): Uint8Array {
    let mask = this.masks.get(allowed);
    if (!mask) {
      mask = new Uint8Array(this.nodes.length);
      for (const node of allowed) {
        const at = this.index.get(node);
        if (at !== undefined) mask[at] = 1;
      }
      this.masks.set(allowed, mask);
    }
    return mask;
  }
}
