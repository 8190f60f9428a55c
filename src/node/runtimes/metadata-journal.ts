// The runtime's side of the disk store's metadata databases (bbolt) stand-in: one journal per node, its commits
// queued one writer at a time, as bbolt allows, each run as one job on a layer thread (metadata-store.ts writes it).
import type { FileHandle } from 'node:fs/promises';
import type { LayerThread } from './layer-thread.js';

export class MetadataJournal {
  private tail: Promise<void> = Promise.resolve();
  private nextTx = 0;

  /** `journal` from createJournal (metadata-store.ts); `counted` hears of each commit's transactions as it starts. */
  constructor(
    private readonly journal: FileHandle,
    private readonly layers: LayerThread,
    private readonly counted: (transactions: number) => void,
  ) {}

  /** `transactions` bbolt-style commits, after every commit asked for before (whether it failed or not). */
  commit(what: string, transactions: number): Promise<void> {
    const run = async (): Promise<void> => {
      const firstTx = this.nextTx;
      this.nextTx += transactions;
      this.counted(transactions);
      await this.layers.commit(this.journal.fd, what, firstTx, transactions);
    };
    const next = this.tail.then(run, run);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Waits for the commits under way, then closes the journal. */
  async close(): Promise<void> {
    await this.tail;
    await this.journal.close();
  }
}
