// A stored layer's way into and out of a node's content store: the verified blob written to its file, and the
// apply that reads it back, decompresses it, digests it for its diff id and writes the snapshot. Kept apart from the
// runtime so that the apply can run in a worker thread (layer-worker.ts) with nothing else loaded there.
import { readSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Transform, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { constants as zlibConstants, createGunzip, type Gunzip } from 'node:zlib';
import { Decompress } from 'fzstd';
import { Digester } from '../../oci/digest.js';

/**
 * zlib's output chunk (default 16 KiB) for a decompressor as a stream (the inflate-only store; an apply that is not gzip,
 * or where SyncGunzip is refused): bigger chunks mean fewer thread-pool round trips per layer, and smaller ones are
 * still in the CPU's cache when they are hashed and written.
 */
const INFLATE_CHUNK = 256 * 1024;
/** The disk store's write size: a layer goes to its blob file and its decompressor in runs of this many bytes. */
export const STAGE_BYTES = 1024 * 1024;
/** Stages a runtime keeps between layers: enough for max_concurrent_downloads (3) layers at once. */
const MAX_SPARE_STAGES = 6;

export function decompressor(mediaType: string, chunkSize = INFLATE_CHUNK): Transform {
  if (mediaType.endsWith('+zstd')) return zstdStream(chunkSize);
  if (mediaType.endsWith('gzip')) return createGunzip({ chunkSize });
  // A copy, not the chunk itself: the disk store reuses its input buffers once a chunk is consumed.
  return new Transform({ transform: (chunk: Buffer, _enc, cb) => cb(null, Buffer.from(chunk)) });
}

// Node's own zstd (22.15+, native, in the thread pool like gzip) where there is one, else fzstd in JavaScript.
function zstdStream(chunkSize: number): Transform {
  const native = (zlib as { createZstdDecompress?: (opts?: { chunkSize?: number }) => Transform }).createZstdDecompress;
  if (native) return native({ chunkSize });
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        d.push(chunk);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb) {
      try {
        d.push(new Uint8Array(0), true);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
  const d = new Decompress((chunk) => out.push(Buffer.from(chunk)));
  return out;
}

/**
 * A file written from two reused 1 MiB stages: take() copies bytes into the
 * current stage, and a full stage is written with one positional write, no
 * allocation; a stage is filled again once its write is done. finish() writes
 * the rest and syncs the file, as containerd's content writer commits before
 * the caller renames it.
 */
export class StagedFile {
  private readonly stages: Buffer[];
  /** Settles when the file write is done with the stage. */
  private readonly inUse: (Promise<void> | undefined)[] = [undefined, undefined];
  private stage = 0;
  private filled = 0;
  private at = 0;
  private waiting = false;
  private failure: Error | undefined;
  /** Called when a stage is free again after take() took fewer bytes than it was given. */
  onFree: (() => void) | undefined;
  /** Called on the first failed write, whether or not anything waits. */
  onError: ((err: Error) => void) | undefined;

  private constructor(
    private readonly fh: FileHandle,
    private readonly spares: Buffer[],
  ) {
    this.stages = takeStages(spares);
  }

  /**
   * Opens (creates or truncates) the file. Stages are taken from `spares` and given back once the file is
   * finished (containerd's content.Copy pools its 1 MiB buffers alike): a pull does not fault in fresh memory
   * for every layer.
   */
  static async open(path: string, spares: Buffer[] = []): Promise<StagedFile> {
    return new StagedFile(await open(path, 'w'), spares);
  }

  /** Copies as much of `bytes` as the stages have room for, and returns how many; fewer: call again after onFree. Throws a write's failure. */
  take(bytes: Uint8Array): number {
    if (this.failure) throw this.failure;
    let from = 0;
    while (from < bytes.length) {
      if (this.inUse[this.stage]) {
        this.waiting = true;
        break;
      }
      const n = Math.min(bytes.length - from, STAGE_BYTES - this.filled);
      this.stages[this.stage]!.set(bytes.subarray(from, from + n), this.filled);
      from += n;
      this.filled += n;
      if (this.filled === STAGE_BYTES) this.dispatch(STAGE_BYTES);
    }
    return from;
  }

  /** Writes what is staged, waits for every write, syncs and closes the file, and gives the stages back. */
  async finish(): Promise<void> {
    if (this.filled > 0) this.dispatch(this.filled);
    await Promise.all(this.inUse);
    if (this.failure) throw this.failure;
    await this.fh.sync();
    await this.fh.close();
    giveStages(this.spares, this.stages);
  }

  /** Closes the file after the writes under way (a failed file keeps its own stages). */
  async close(): Promise<void> {
    await Promise.allSettled(this.inUse);
    await this.fh.close().catch(() => undefined);
  }

  // Hands the current stage to the file, and moves to the other stage.
  private dispatch(length: number): void {
    const i = this.stage;
    const at = this.at;
    this.at += length;
    const freed = (): void => {
      this.inUse[i] = undefined;
      if (this.waiting) {
        this.waiting = false;
        this.onFree?.();
      }
    };
    this.inUse[i] = writeFully(this.fh, this.stages[i]!.subarray(0, length), at).then(freed, (err: Error) => {
      if (!this.failure) {
        this.failure = err;
        this.onError?.(err);
      }
      freed();
    });
    this.stage ^= 1;
    this.filled = 0;
  }
}

/**
 * A file written on the calling thread, straight from the caller's buffer, at once, as containerd's goroutines
 * write theirs: for a layer thread, which writes a blob from the buffer its body fills and a snapshot from zlib's
 * output while it is still in the CPU's cache. Handing 1 MiB writes to the thread pool, and batching zlib's output
 * up to 4 MiB, the kernel's copy into the page cache cost about three times containerd's per byte (perf,
 * 2026-12-02). A write blocks the thread for as long as the kernel takes (microseconds into the page cache; longer
 * when it throttles a writer of too many dirty pages, as it would throttle containerd's).
 */
export class SyncFile {
  private at = 0;

  private constructor(private readonly fh: FileHandle) {}

  /** Opens (creates or truncates) the file. */
  static async open(path: string): Promise<SyncFile> {
    return new SyncFile(await open(path, 'w'));
  }

  /** Bytes written so far. */
  get size(): number {
    return this.at;
  }

  /** Appends all of `bytes` (going on after a short write); throws the write's failure. */
  write(bytes: Uint8Array): void {
    for (let from = 0; from < bytes.length; ) {
      const n = writeSync(this.fh.fd, bytes, from, bytes.length - from, this.at);
      from += n;
      this.at += n;
    }
  }

  /** Syncs and closes the file, as containerd's content writer commits before the caller renames it. */
  async commit(): Promise<void> {
    await this.fh.sync();
    await this.fh.close();
  }

  /** Closes the file without syncing it. */
  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

/** The disk store's sink for one layer's verified bytes on their way to the content store: a StagedFile as a Writable. */
export class BlobSink extends Writable {
  private constructor(private readonly file: StagedFile) {
    super({ highWaterMark: STAGE_BYTES });
    // A failure reaches the pipeline through destroy(), whether or not a write is waiting.
    file.onError = (err) => this.destroy(err);
  }

  /** Opens (creates or truncates) the blob file, with stages from `spares` (see StagedFile.open). */
  static async open(blobPath: string, spares: Buffer[] = []): Promise<BlobSink> {
    return new BlobSink(await StagedFile.open(blobPath, spares));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let from = 0;
    const fill = (): void => {
      try {
        from += this.file.take(chunk.subarray(from));
      } catch (err) {
        cb(err as Error);
        return;
      }
      if (from < chunk.length) {
        this.file.onFree = fill;
        return;
      }
      this.file.onFree = undefined;
      cb();
    };
    fill();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.file.finish().then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.file.close().then(
      () => cb(err),
      () => cb(err),
    );
  }
}

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

/** A 1 MiB stage from `spares`, or a new one. */
export function takeStage(spares: Buffer[]): Buffer {
  return spares.pop() ?? Buffer.allocUnsafe(STAGE_BYTES);
}

/** Gives a stage back to `spares` (kept up to MAX_SPARE_STAGES). */
export function giveStage(spares: Buffer[], stage: Buffer): void {
  if (spares.length < MAX_SPARE_STAGES) spares.push(stage);
}

function takeStages(spares: Buffer[]): Buffer[] {
  return [takeStage(spares), takeStage(spares)];
}

function giveStages(spares: Buffer[], stages: Buffer[]): void {
  for (const stage of stages) giveStage(spares, stage);
}

// A positional write that goes on after a short write.
async function writeFully(fh: FileHandle, bytes: Buffer, at: number): Promise<void> {
  for (let from = 0; from < bytes.length; ) {
    const { bytesWritten } = await fh.write(bytes, from, bytes.length - from, at + from);
    from += bytesWritten;
  }
}
