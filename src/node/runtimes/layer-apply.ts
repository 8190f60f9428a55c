// The apply half of a node's content store: a stored layer read back from its blob file, decompressed, digested for
// its diff id and written to its snapshot, as containerd's applier does. Runs on a layer thread (layer-worker.ts);
// the blob's way in (StagedFile, BlobSink) and the stages both halves share are in layer-store.ts.
import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import { constants as zlibConstants, createGunzip, type Gunzip } from 'node:zlib';
import { Digester } from '../../oci/digest.js';
import { decompressor, giveStages, STAGE_BYTES, SyncFile, takeStages } from './layer-store.js';

/**
 * Applies a stored layer as containerd's applier does (`apply.Apply` reading
 * the blob from the content store, decompressing it, hashing the uncompressed
 * stream for the diff id and writing what it extracts), on the calling thread
 * (run it in a layer thread): each piece of output is hashed and written to
 * the snapshot file at once (a SyncFile). A gzip layer is inflated by Node's
 * zlib driven synchronously (SyncGunzip), as containerd's goroutine does the
 * whole of an apply; other layers go through their decompressor as a stream.
 * Resolves to the diff id; a corrupt layer or a failed write rejects, and the
 * caller drops the snapshot. `sync: false` streams a gzip layer too (tests).
 */
export async function applyLayer(blobPath: string, snapshotPath: string, mediaType: string, opts: { spares?: Buffer[]; sync?: boolean } = {}): Promise<string> {
  const spares = opts.spares ?? [];
  const gunzip = mediaType.endsWith('gzip') && opts.sync !== false ? SyncGunzip.create() : undefined;
  if (gunzip) return applyGzip(blobPath, snapshotPath, gunzip, spares);
  return applyStreaming(blobPath, snapshotPath, decompressor(mediaType), spares);
}

/** Whether this Node's zlib can be driven synchronously (SyncGunzip): true on the Node versions we support. */
export function syncGunzipAvailable(): boolean {
  const z = SyncGunzip.create();
  z?.close();
  return z !== undefined;
}

/** Input read from the blob per step of a gzip apply. */
const SYNC_STEP = 256 * 1024;
/**
 * The most a snapshot write takes: containerd's archive.Apply copies a file's data out of the tar stream through a
 * 32 KiB buffer (archive/tar.go: createTarFile, copyBuffered, bufPool), one write per buffer. Written in 256 KiB
 * pieces instead, the embedded runtime's pulls of 250 and 500 MB took 0.75x containerd's time, with half its system
 * time (bench/fidelity --no-sha-ext, 2026-12-02); in 32 KiB ones, 0.93 and 0.96.
 */
const SNAPSHOT_WRITE = 32 * 1024;
/** Blob bytes inflated between turns of the thread's event loop (its other jobs, a close, a shutdown). */
const SYNC_YIELD_BYTES = 1024 * 1024;

async function applyGzip(blobPath: string, snapshotPath: string, gunzip: SyncGunzip, spares: Buffer[]): Promise<string> {
  let blob: FileHandle | undefined;
  let snapshot: SyncFile | undefined;
  const stages = takeStages(spares);
  try {
    blob = await open(blobPath, 'r');
    snapshot = await SyncFile.open(snapshotPath);
    const out = snapshot;
    const digester = new Digester('sha256');
    const input = stages[0]!.subarray(0, SYNC_STEP);
    const output = stages[1]!.subarray(0, SNAPSHOT_WRITE);
    const unpacked = (bytes: Buffer): void => {
      digester.update(bytes);
      out.write(bytes);
    };
    for (let at = 0, sinceYield = 0; ; ) {
      const n = readSync(blob.fd, input, 0, SYNC_STEP, at);
      at += n;
      // The end of the blob finishes the stream (a truncated one fails there); so does the end of the gzip stream.
      if (!gunzip.inflate(input.subarray(0, n), n === 0, output, unpacked) || n === 0) break;
      sinceYield += n;
      if (sinceYield >= SYNC_YIELD_BYTES) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    giveStages(spares, stages);
    return digester.digest();
  } finally {
    gunzip.close();
    await Promise.allSettled([blob?.close(), snapshot?.close()]);
  }
}

/** What SyncGunzip reaches of a node:zlib stream: its native handle's synchronous write and the state it fills in. */
interface ZlibInternals {
  _handle?: { writeSync?: (flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number) => void };
  _writeState?: unknown;
}

/**
 * Node's own zlib (the same native inflate and crc32 as createGunzip()) driven
 * synchronously on the calling thread: no trip through the thread pool and
 * back per chunk. A layer thread's apply was a chain of such trips, each one
 * waiting for two threads to be scheduled, and while the pull's three
 * downloads kept both cores busy the first layer's apply took 260-520 ms
 * against containerd's 115-250 ms (31 MB; timelines, 2026-12-02), 76-100 ms
 * driven this way. Node has no public API for it: this uses what its own
 * zlibBufferSync uses (the handle's writeSync, which fills in `_writeState`
 * with the output and input left), found by shape and refused (undefined) on
 * a Node whose zlib differs; the caller then streams. Errors arrive as
 * zlib's own (`Z_DATA_ERROR`, `unexpected end of file`).
 */
export class SyncGunzip {
  private constructor(
    private readonly stream: Gunzip,
    private readonly write: NonNullable<NonNullable<ZlibInternals['_handle']>['writeSync']>,
    private readonly state: Uint32Array,
  ) {}

  static create(): SyncGunzip | undefined {
    const stream = createGunzip();
    // An error is read from stream.errored, where zlib's handler puts it synchronously (by destroying the stream).
    stream.on('error', () => undefined);
    const { _handle: handle, _writeState: state } = stream as unknown as ZlibInternals;
    const write = handle?.writeSync;
    if (typeof write !== 'function' || !(state instanceof Uint32Array) || state.length !== 2) {
      stream.close();
      return undefined;
    }
    return new SyncGunzip(stream, write.bind(handle), state);
  }

  /**
   * Inflates all of `input` (and, when `final`, finishes the stream), handing each
   * piece of output to `emit` (a view of `output`, valid during the call). Returns
   * false once the gzip stream has ended with input left over, which is then
   * ignored, as createGunzip() ignores it. Throws zlib's error.
   */
  inflate(input: Buffer, final: boolean, output: Buffer, emit: (bytes: Buffer) => void): boolean {
    const flush = final ? zlibConstants.Z_FINISH : zlibConstants.Z_NO_FLUSH;
    let inOff = 0;
    let inLen = input.length;
    for (;;) {
      this.write(flush, input, inOff, inLen, output, 0, output.length);
      if (this.stream.destroyed) throw this.stream.errored ?? new Error('zlib failed');
      const outLeft = this.state[0]!;
      const inLeft = this.state[1]!;
      if (outLeft < output.length) emit(output.subarray(0, output.length - outLeft));
      inOff += inLen - inLeft;
      inLen = inLeft;
      // Output space left over: zlib took all it wanted. Input left then means the stream has ended.
      if (outLeft > 0) return inLeft === 0;
    }
  }

  close(): void {
    this.stream.close();
  }
}

// The decompressor as a stream: zstd (Node's own in its thread pool, or fzstd here), an uncompressed layer, and gzip
// where this Node's zlib cannot be driven synchronously.
async function applyStreaming(blobPath: string, snapshotPath: string, inflater: Transform, spares: Buffer[]): Promise<string> {
  const blob = await open(blobPath, 'r');
  let snapshot: SyncFile | undefined;
  try {
    snapshot = await SyncFile.open(snapshotPath);
    const out = new SnapshotWriter(snapshot, inflater);
    const stages = takeStages(spares);
    const inUse: (Promise<void> | undefined)[] = [undefined, undefined];
    // A decompressor that fails may never call back a write it had taken: its error ends the waits.
    const broken = new Promise<never>((_resolve, reject) => inflater.once('error', reject));
    broken.catch(() => undefined);
    try {
      for (let at = 0, i = 0; ; i ^= 1) {
        await Promise.race([inUse[i], broken]);
        const { bytesRead } = await blob.read(stages[i]!, 0, STAGE_BYTES, at);
        if (bytesRead === 0) break;
        at += bytesRead;
        const written = new Promise<void>((resolve, reject) => inflater.write(stages[i]!.subarray(0, bytesRead), (err) => (err ? reject(err) : resolve())));
        written.catch(() => undefined);
        inUse[i] = written;
      }
      await Promise.race([Promise.all(inUse), broken]);
      inflater.end();
      await out.finish();
    } catch (err) {
      inflater.destroy();
      // The first failure is the cause: a snapshot write that failed destroys the decompressor, and a write to it
      // that was under way then fails with ERR_STREAM_DESTROYED, which can come first (Node 24).
      throw out.failed() ?? err;
    }
    giveStages(spares, stages);
    return out.diffId();
  } finally {
    await Promise.allSettled([blob.close(), snapshot?.close()]);
  }
}

/** A decompressor's output on its way to a snapshot file, digested as it goes (the layer's diff id). */
class SnapshotWriter {
  private failure: Error | undefined;
  private readonly digester = new Digester('sha256');

  constructor(
    private readonly snapshot: SyncFile,
    private readonly inflater: Transform,
  ) {
    inflater.on('data', (chunk: Buffer) => this.unpacked(chunk));
  }

  diffId(): string {
    return this.digester.digest();
  }

  /** The snapshot write's failure, if one failed. */
  failed(): Error | undefined {
    return this.failure;
  }

  /** Resolves once the decompressor has ended (all of its output is written by then); rejects on either's failure. */
  async finish(): Promise<void> {
    await finished(this.inflater);
    if (this.failure) throw this.failure;
  }

  // Hashed and written while the chunk is still in cache. A failed write ends the decompressor (a throw here would
  // reach zlib's callback, outside any stream).
  private unpacked(chunk: Buffer): void {
    if (this.failure) return;
    this.digester.update(chunk);
    try {
      for (let at = 0; at < chunk.length; at += SNAPSHOT_WRITE) this.snapshot.write(chunk.subarray(at, at + SNAPSHOT_WRITE));
    } catch (err) {
      this.failure = err as Error;
      this.inflater.destroy(this.failure);
    }
  }
}
