/**
 * The disk store's stand-in for containerd's metadata databases (bbolt) and the
 * commit of small blobs (manifests, indexes, configs) into its content store.
 * Both run synchronously, in one job on a layer thread: a bbolt transaction
 * writes and fdatasyncs in the goroutine that commits it, without handing each
 * call to another thread; done as 4 x N thread-pool trips from the runtime's
 * thread, each trip waited for that thread's turn, which a registry and shaped
 * links beside it on a busy machine made tens of ms (a cold 10 MB pull's 24
 * transactions: 145 ms, against containerd's few).
 */
import { closeSync, fdatasyncSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/**
 * containerd 1.6.20 (overlayfs) syncs its metadata databases about 30 + 18 x layers times (fdatasync) in a cold
 * CRI PullImage and about 28 times in a pull of an image it has (bench/fidelity/containerd-syncs.ts, strace on the
 * daemon, 1/2/4/8 layers: 48-49/66/102/174 cold, 26-28 warm): bbolt syncs twice per transaction, so 14 per pull,
 * one more when content was new, and 9 per layer fetched and unpacked.
 */
export const META_TX_PER_PULL = 14;
/**
 * Of a new layer's 9, those of its download, as containerd's fetch handler makes them beside the other downloads
 * (strace -tt -y of a cold 3-layer CRI PullImage, 1.6.20, 2026-12-07): one as the ingest opens (its lease), before the
 * GET, and two once the blob is synced and renamed into the content store (the content commit and its labels).
 */
export const META_TX_PER_LAYER_INGEST = 1;
export const META_TX_PER_LAYER_COMMIT = 2;
/**
 * The rest, in the unpacker's chain, layer after layer: the snapshot's prepare and commit in the snapshotter's
 * database and in containerd's (bolt meta.db and overlayfs metadata.db, both seen in that trace).
 */
export const META_TX_PER_LAYER_UNPACK = 6;
export const META_TX_PER_NEW_LAYER = META_TX_PER_LAYER_INGEST + META_TX_PER_LAYER_COMMIT + META_TX_PER_LAYER_UNPACK;
const PAGE = 4096;
const JOURNAL_PAGES = 64;

/** Creates the journal file, allocated up front like a bbolt file in steady state (a commit rewrites pages in place). */
export async function createJournal(path: string): Promise<FileHandle> {
  const journal = await open(path, 'w+');
  await journal.write(Buffer.alloc(JOURNAL_PAGES * PAGE));
  await journal.sync();
  return journal;
}

/**
 * `transactions` bbolt-style commits from transaction number `firstTx` on, into the journal open as `fd`: each a
 * data page somewhere after the two meta pages, then meta page 0 or 1 (bbolt alternates them), each followed by
 * fdatasync.
 */
export function commitTransactionsSync(fd: number, what: string, firstTx: number, transactions: number): void {
  const page = Buffer.alloc(PAGE);
  for (let tx = firstTx; tx < firstTx + transactions; tx++) {
    page.fill(0);
    page.write(`${what} tx ${tx}`);
    writeSync(fd, page, 0, PAGE, (2 + (tx % (JOURNAL_PAGES - 2))) * PAGE);
    fdatasyncSync(fd);
    writeSync(fd, page, 0, PAGE, (tx % 2) * PAGE);
    fdatasyncSync(fd);
  }
}

/** A small blob into the content store: written to `partial`, synced, renamed to `path`, as every blob there. */
export function saveBlobSync(partial: string, path: string, bytes: Uint8Array): void {
  const fd = openSync(partial, 'w');
  try {
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at, at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(partial, path);
}
