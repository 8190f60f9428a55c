// A layer's way into a node's content store: the verified blob written to its file (StagedFile, BlobSink, SyncFile),
// the decompressors, and the 1 MiB stages the writes reuse. The apply that reads a blob back into its snapshot is in
// layer-apply.ts. Kept apart from the runtime so that both can run in a worker thread (layer-worker.ts) with nothing
// else loaded there.
import { writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Transform, Writable } from 'node:stream';
import * as zlib from 'node:zlib';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';

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

/** A 1 MiB stage from `spares`, or a new one. */
export function takeStage(spares: Buffer[]): Buffer {
  return spares.pop() ?? Buffer.allocUnsafe(STAGE_BYTES);
}

/** Gives a stage back to `spares` (kept up to MAX_SPARE_STAGES). */
export function giveStage(spares: Buffer[], stage: Buffer): void {
  if (spares.length < MAX_SPARE_STAGES) spares.push(stage);
}

/** A double buffer's two stages, from `spares`. */
export function takeStages(spares: Buffer[]): Buffer[] {
  return [takeStage(spares), takeStage(spares)];
}

/** Gives a double buffer's stages back to `spares`. */
export function giveStages(spares: Buffer[], stages: Buffer[]): void {
  for (const stage of stages) giveStage(spares, stage);
}

// A positional write that goes on after a short write.
async function writeFully(fh: FileHandle, bytes: Buffer, at: number): Promise<void> {
  for (let from = 0; from < bytes.length; ) {
    const { bytesWritten } = await fh.write(bytes, from, bytes.length - from, at + from);
    from += bytesWritten;
  }
}
