/**
 * A FIFO that runs at most `limit` tasks at once (Infinity = no limit): kubelet's
 * serial puller (limit 1) and parallel puller (maxParallelImagePulls), and the
 * embedded runtime's max_concurrent_downloads.
 */
export class TaskQueue {
  private running = 0;
  // A FIFO read from `head`: Array.shift copies the array once it is large (thousands of pulls queued on a model's registry).
  private waiting: (() => void)[] = [];
  private head = 0;
  private peak = 0;

  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    this.peak = Math.max(this.peak, this.running);
    try {
      return await task();
    } finally {
      const next = this.next();
      if (next) next();
      else this.running--;
    }
  }

  /** Highest number of tasks that ran at once. */
  maxObserved(): number {
    return this.peak;
  }

  active(): number {
    return this.running;
  }

  queued(): number {
    return this.waiting.length - this.head;
  }

  private next(): (() => void) | undefined {
    if (this.head >= this.waiting.length) return undefined;
    const next = this.waiting[this.head++];
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
    return next;
  }
}
