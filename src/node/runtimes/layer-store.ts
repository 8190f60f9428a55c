// A stored layer's way into and out of a node's content store: the verified blob written to its file, and the
// apply that reads it back, decompresses it, digests it for its diff id and writes the snapshot. Kept apart from the
// runtime so that the apply can run in a worker thread (layer-worker.ts) with nothing else loaded there.
import { open, type FileHandle } from 'node:fs/promises';
import { Transform, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';
import { Digester } from '../../oci/digest.js';

/** zlib's output chunk (default 16 KiB): bigger chunks mean far fewer thread-pool round trips per layer. */
const INFLATE_CHUNK = 256 * 1024;
/** The disk store's write size: a layer goes to its blob file and its decompressor in runs of this many bytes. */
export const STAGE_BYTES = 1024 * 1024;
/** Stages a runtime keeps between layers: enough for max_concurrent_downloads (3) layers at once. */
const MAX_SPARE_STAGES = 6;
/** Unpacked bytes waiting for the snapshot file before the decompressor is paused. */
const SNAPSHOT_BACKLOG = 4 * 1024 * 1024;

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
    this.inUse[i] = writeFully(this.fh, [this.stages[i]!.subarray(0, length)], at).then(freed, (err: Error) => {
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
 * stream for the diff id and writing what it extracts): the blob is read back
 * in 1 MiB runs into two reused stages, each one zlib job, and the
 * decompressor's output goes to the snapshot file in writev batches. Resolves
 * to the diff id; a corrupt layer or a failed write rejects, and the caller
 * drops the snapshot.
 */
export async function applyLayer(blobPath: string, snapshotPath: string, inflater: Transform, spares: Buffer[] = []): Promise<string> {
  const blob = await open(blobPath, 'r');
  let snapshot: FileHandle | undefined;
  try {
    snapshot = await open(snapshotPath, 'w');
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
      await out.settled();
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
  private at = 0;
  private readonly backlog: Buffer[] = [];
  private backlogBytes = 0;
  private writes: Promise<void> | undefined;
  private failure: Error | undefined;
  private readonly digester = new Digester('sha256');

  constructor(
    private readonly snapshot: FileHandle,
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

  /** Resolves once the decompressor has ended and all of its output is written; rejects on either's failure. */
  async finish(): Promise<void> {
    await finished(this.inflater);
    await this.settled();
    if (this.failure) throw this.failure;
  }

  /** Resolves once no write is under way. */
  async settled(): Promise<void> {
    while (this.writes) await this.writes;
  }

  private unpacked(chunk: Buffer): void {
    this.digester.update(chunk);
    this.backlog.push(chunk);
    this.backlogBytes += chunk.length;
    if (this.backlogBytes >= SNAPSHOT_BACKLOG) this.inflater.pause();
    this.writes ??= this.write().catch((err: Error) => {
      this.failure ??= err;
      this.inflater.destroy(err);
    });
  }

  // Writes what the decompressor has produced, all of it in one writev, until none is left.
  private async write(): Promise<void> {
    try {
      while (this.backlog.length > 0) {
        const chunks = this.backlog.splice(0);
        const at = this.at;
        this.at += this.backlogBytes;
        this.backlogBytes = 0;
        if (this.inflater.isPaused()) this.inflater.resume();
        await writeFully(this.snapshot, chunks, at);
      }
    } finally {
      // Also after a failed write, so that finish() does not wait for it forever.
      this.writes = undefined;
    }
  }
}

function takeStages(spares: Buffer[]): Buffer[] {
  return [spares.pop() ?? Buffer.allocUnsafe(STAGE_BYTES), spares.pop() ?? Buffer.allocUnsafe(STAGE_BYTES)];
}

function giveStages(spares: Buffer[], stages: Buffer[]): void {
  if (spares.length < MAX_SPARE_STAGES) spares.push(...stages);
}

// A positional writev that goes on after a short write.
async function writeFully(fh: FileHandle, chunks: Buffer[], at: number): Promise<void> {
  let left = chunks;
  let position = at;
  for (;;) {
    const total = left.reduce((n, c) => n + c.length, 0);
    const { bytesWritten } = left.length === 1 ? await fh.write(left[0]!, 0, total, position) : await fh.writev(left, position);
    if (bytesWritten >= total) return;
    position += bytesWritten;
    let skip = bytesWritten;
    while (skip >= left[0]!.length) skip -= left.shift()!.length;
    left = [left[0]!.subarray(skip), ...left.slice(1)];
  }
}

