/** A chunk (undefined = end of stream) of `flow` due at `at`; `seq` orders ties by sending. */
export interface Delivery<F> {
  at: number;
  seq: number;
  flow: F;
  chunk: Buffer | undefined;
}

/** The shaper's pending deliveries: a binary min-heap by due time, then by order of sending. */
export class DeliveryHeap<F> {
  private items: Delivery<F>[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): Delivery<F> | undefined {
    return this.items[0];
  }
  private less(a: Delivery<F>, b: Delivery<F>): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
  push(d: Delivery<F>): void {
    const a = this.items;
    a.push(d);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i] as Delivery<F>, a[p] as Delivery<F>)) break;
      [a[i], a[p]] = [a[p] as Delivery<F>, a[i] as Delivery<F>];
      i = p;
    }
  }
  pop(): Delivery<F> | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l] as Delivery<F>, a[m] as Delivery<F>)) m = l;
        if (r < a.length && this.less(a[r] as Delivery<F>, a[m] as Delivery<F>)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m] as Delivery<F>, a[i] as Delivery<F>];
        i = m;
      }
    }
    return top;
  }
  /** Holds a flow's pending deliveries until `until` (order kept: ties go by sequence). */
  delayFlow(flow: F, until: number): void {
    const all = this.items.map((d) => (d.flow === flow && d.at < until ? { ...d, at: until } : d));
    this.items = [];
    for (const d of all) this.push(d);
  }

  removeFlow(flow: F): void {
    const kept = this.items.filter((d) => d.flow !== flow);
    this.items = [];
    for (const d of kept) this.push(d);
  }
}
