/**
 * Places pods on identical nodes as the default scheduler ends up doing: the
 * least-loaded node wins (LeastAllocated/BalancedAllocation score equal nodes
 * by how full they are), then the node with fewest pods of the same workload
 * (the default PodTopologySpread by hostname). Ties go to the node after the
 * last one chosen, so equal nodes fill round-robin and runs are reproducible.
 */
export class SpreadScheduler {
  private readonly load = new Map<string, number>();
  private readonly byWorkload = new Map<string, Map<string, number>>();
  private cursor = 0;

  constructor(private readonly nodes: readonly string[]) {
    for (const n of nodes) this.load.set(n, 0);
  }

  /** The node for the workload's next pod; among `allowed` only when given (a nodeSelector). */
  schedule(workload: string, allowed?: readonly string[]): string {
    const only = allowed ? new Set(allowed) : undefined;
    const perNode = this.byWorkload.get(workload) ?? new Map<string, number>();
    this.byWorkload.set(workload, perNode);
    let best: string | undefined;
    let bestKey: [number, number] = [Infinity, Infinity];
    for (let i = 0; i < this.nodes.length; i++) {
      const node = this.nodes[(this.cursor + i) % this.nodes.length]!;
      if (only && !only.has(node)) continue;
      const key: [number, number] = [this.load.get(node)!, perNode.get(node) ?? 0];
      if (key[0] < bestKey[0] || (key[0] === bestKey[0] && key[1] < bestKey[1])) {
        best = node;
        bestKey = key;
      }
    }
    const chosen = best ?? allowed?.[0] ?? this.nodes[0]!;
    this.cursor = (this.nodes.indexOf(chosen) + 1) % this.nodes.length;
    this.load.set(chosen, (this.load.get(chosen) ?? 0) + 1);
    perNode.set(chosen, (perNode.get(chosen) ?? 0) + 1);
    return chosen;
  }

  /** A pod left the node (deleted). */
  release(node: string, workload: string): void {
    this.load.set(node, Math.max(0, (this.load.get(node) ?? 0) - 1));
    const perNode = this.byWorkload.get(workload);
    if (perNode) perNode.set(node, Math.max(0, (perNode.get(node) ?? 0) - 1));
  }
}
