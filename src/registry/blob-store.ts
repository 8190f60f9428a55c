import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseDigest } from '../oci/digest.js';
import { RegistryHttpError } from './http-error.js';

/** Inclusive byte range. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Content-addressed blob storage shared by every repository (deduplicated);
 * repository visibility is kept elsewhere (RepositoryIndex).
 */
export interface BlobStore {
  /** Size of a stored blob, answered from memory (no stat per request). */
  size(digest: string): number | undefined;
  read(digest: string, range?: ByteRange): Readable;
  /** The blob's bytes when they are in memory (hot path: one socket write, no fs reads). */
  cached(digest: string): Buffer | undefined;
  readAll(digest: string): Promise<Buffer>;
  /** Stores small content (manifests) whose digest the caller has verified. */
  put(digest: string, data: Buffer): Promise<void>;
  startUpload(): BlobUpload;
  delete(digest: string): Promise<void>;
  /** Loads sizes of blobs already on disk. */
  open(): Promise<void>;
}

/**
 * A blob being written. Bytes are hashed as they arrive; `commit` makes the
 * blob visible only if the digest (and size, when given) match, and otherwise
 * discards everything.
 */
export interface BlobUpload {
  readonly id: string;
  readonly size: number;
  /** Streams `source` to the end of the upload; fails with SIZE_INVALID past `maxSize`. */
  append(source: Readable, maxSize: number): Promise<void>;
  /** Reads bytes already appended (used to stream a blob that is still arriving). */
  readWritten(offset: number, length: number): Promise<Buffer>;
  commit(expectedDigest: string, expectedSize?: number): Promise<void>;
  abort(): Promise<void>;
}

class HashingCounter extends Transform {
  constructor(
    private readonly upload: { hash: Hash; size: number },
    private readonly maxSize: number,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.upload.size + chunk.length > this.maxSize) {
      cb(new RegistryHttpError('SIZE_INVALID', `blob exceeds the limit of ${this.maxSize} bytes`, { status: 413 }));
      return;
    }
    this.upload.hash.update(chunk);
    this.upload.size += chunk.length;
    cb(null, chunk);
  }
}

function verify(actualDigest: string, expectedDigest: string, size: number, expectedSize?: number): void {
  if (parseDigest(expectedDigest).algorithm !== 'sha256') {
    throw new RegistryHttpError('UNSUPPORTED', 'only sha256 blob digests are supported for uploads', { status: 400 });
  }
  if (actualDigest !== expectedDigest) {
    throw new RegistryHttpError('DIGEST_INVALID', 'provided digest did not match uploaded content', {
      detail: { expected: expectedDigest, actual: actualDigest },
    });
  }
  if (expectedSize !== undefined && expectedSize !== size) {
    throw new RegistryHttpError('SIZE_INVALID', 'blob size does not match', { detail: { expected: expectedSize, actual: size } });
  }
}

function sliceRange(length: number, range?: ByteRange): ByteRange {
  return range ?? { start: 0, end: length - 1 };
}

/** Blobs in memory: for tests and short benchmarks. */
export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, Buffer>();

  async open(): Promise<void> {}

  size(digest: string): number | undefined {
    return this.blobs.get(digest)?.length;
  }

  cached(digest: string): Buffer | undefined {
    return this.blobs.get(digest);
  }

  read(digest: string, range?: ByteRange): Readable {
    const data = this.blobs.get(digest);
    if (!data) throw new RegistryHttpError('BLOB_UNKNOWN', 'blob unknown to registry');
    const r = sliceRange(data.length, range);
    const slice = data.subarray(r.start, r.end + 1);
    const chunk = 1 << 20;
    let offset = 0;
    return new Readable({
      read() {
        if (offset >= slice.length) {
          this.push(null);
          return;
        }
        this.push(slice.subarray(offset, offset + chunk));
        offset += chunk;
      },
    });
  }

  async readAll(digest: string): Promise<Buffer> {
    const data = this.blobs.get(digest);
    if (!data) throw new RegistryHttpError('BLOB_UNKNOWN', 'blob unknown to registry');
    return data;
  }

  async put(digest: string, data: Buffer): Promise<void> {
    this.blobs.set(digest, data);
  }

  async delete(digest: string): Promise<void> {
    this.blobs.delete(digest);
  }

  startUpload(): BlobUpload {
    const chunks: Buffer[] = [];
    const state = { hash: createHash('sha256'), size: 0 };
    const blobs = this.blobs;
    return {
      id: randomUUID(),
      get size() {
        return state.size;
      },
      async append(source, maxSize) {
        const counter = new HashingCounter(state, maxSize);
        counter.on('data', (c: Buffer) => chunks.push(c));
        await pipeline(source, counter);
      },
      async readWritten(offset, length) {
        const out: Buffer[] = [];
        let pos = 0;
        let want = length;
        for (const c of chunks) {
          if (want <= 0) break;
          if (pos + c.length > offset) {
            const part = c.subarray(Math.max(0, offset - pos), Math.max(0, offset - pos) + want);
            out.push(part);
            want -= part.length;
          }
          pos += c.length;
        }
        return Buffer.concat(out);
      },
      async commit(expectedDigest, expectedSize) {
        verify(`sha256:${state.hash.digest('hex')}`, expectedDigest, state.size, expectedSize);
        blobs.set(expectedDigest, Buffer.concat(chunks));
        chunks.length = 0;
      },
      async abort() {
        chunks.length = 0;
      },
    };
  }
}

/**
 * Blobs on disk under `<root>/blobs/<alg>/<2 hex>/<hex>`. Uploads go to
 * `<root>/_uploads` (same filesystem), are fsynced, and are renamed into the
 * content-addressed path only after the digest is verified, so a crash mid-write
 * never leaves a visible partial blob.
 */
export class FilesystemBlobStore implements BlobStore {
  private readonly sizes = new Map<string, number>();
  private readonly uploadsDir: string;
  /** Hot blobs in memory, least recently used first (Map keeps insertion order). */
  private readonly hot = new Map<string, Buffer>();
  private hotBytes = 0;
  private readonly filling = new Set<string>();
  private fillingBytes = 0;

  /** `cacheBytes`: memory for hot blobs (0 turns the cache off); a blob over a quarter of it is never cached. */
  constructor(
    private readonly root: string,
    private readonly cacheBytes = 512 * 1024 * 1024,
  ) {
    this.uploadsDir = join(root, '_uploads');
  }

  cached(digest: string): Buffer | undefined {
    const data = this.hot.get(digest);
    if (data) {
      this.hot.delete(digest);
      this.hot.set(digest, data);
      return data;
    }
    const size = this.sizes.get(digest);
    // Bounded so that many cold blobs at once never read more than half the budget into memory.
    if (size !== undefined && size <= this.cacheBytes / 4 && !this.filling.has(digest) && this.fillingBytes + size <= this.cacheBytes / 2) {
      this.filling.add(digest);
      this.fillingBytes += size;
      readFile(this.pathOf(digest))
        .then((buf) => {
          if (!this.sizes.has(digest) || this.hot.has(digest)) return;
          this.hot.set(digest, buf);
          this.hotBytes += buf.length;
          for (const [d, b] of this.hot) {
            if (this.hotBytes <= this.cacheBytes) break;
            this.hot.delete(d);
            this.hotBytes -= b.length;
          }
        })
        .catch(() => undefined)
        .finally(() => {
          this.filling.delete(digest);
          this.fillingBytes -= size;
        });
    }
    return undefined;
  }

  async open(): Promise<void> {
    await mkdir(this.uploadsDir, { recursive: true });
    // Leftovers of a crash are never visible; remove them.
    for (const entry of await readdir(this.uploadsDir)) await rm(join(this.uploadsDir, entry), { force: true });
    for (const alg of ['sha256', 'sha512']) {
      const algDir = join(this.root, 'blobs', alg);
      let prefixes: string[] = [];
      try {
        prefixes = await readdir(algDir);
      } catch {
        continue;
      }
      for (const prefix of prefixes) {
        for (const hex of await readdir(join(algDir, prefix))) {
          const s = await stat(join(algDir, prefix, hex));
          this.sizes.set(`${alg}:${hex}`, s.size);
        }
      }
    }
  }

  private pathOf(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.root, 'blobs', algorithm, hex.slice(0, 2), hex);
  }

  size(digest: string): number | undefined {
    return this.sizes.get(digest);
  }

  read(digest: string, range?: ByteRange): Readable {
    const size = this.sizes.get(digest);
    if (size === undefined) throw new RegistryHttpError('BLOB_UNKNOWN', 'blob unknown to registry');
    if (size === 0) return Readable.from([]);
    const r = sliceRange(size, range);
    return createReadStream(this.pathOf(digest), { start: r.start, end: r.end, highWaterMark: 1 << 20 });
  }

  async readAll(digest: string): Promise<Buffer> {
    return readFile(this.pathOf(digest));
  }

  async put(digest: string, data: Buffer): Promise<void> {
    if (this.sizes.has(digest)) return;
    const tmp = join(this.uploadsDir, randomUUID());
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.publish(tmp, digest, data.length);
  }

  private async publish(tmp: string, digest: string, size: number): Promise<void> {
    const target = this.pathOf(digest);
    await mkdir(join(target, '..'), { recursive: true });
    await rename(tmp, target);
    this.sizes.set(digest, size);
  }

  async delete(digest: string): Promise<void> {
    this.sizes.delete(digest);
    const hot = this.hot.get(digest);
    if (hot) {
      this.hot.delete(digest);
      this.hotBytes -= hot.length;
    }
    await rm(this.pathOf(digest), { force: true });
  }

  startUpload(): BlobUpload {
    const id = randomUUID();
    const path = join(this.uploadsDir, id);
    const state = { hash: createHash('sha256'), size: 0 };
    const sizes = this.sizes;
    const publish = (digest: string, size: number): Promise<void> => this.publish(path, digest, size);
    return {
      id,
      get size() {
        return state.size;
      },
      async append(source, maxSize) {
        await pipeline(source, new HashingCounter(state, maxSize), createWriteStream(path, { flags: 'a' }));
      },
      async readWritten(offset, length) {
        const fh = await open(path, 'r');
        try {
          const buf = Buffer.allocUnsafe(length);
          const { bytesRead } = await fh.read(buf, 0, length, offset);
          return buf.subarray(0, bytesRead);
        } finally {
          await fh.close();
        }
      },
      async commit(expectedDigest, expectedSize) {
        try {
          verify(`sha256:${state.hash.digest('hex')}`, expectedDigest, state.size, expectedSize);
        } catch (err) {
          await rm(path, { force: true });
          throw err;
        }
        if (sizes.has(expectedDigest)) {
          await rm(path, { force: true });
          return;
        }
        const fh = await open(path, state.size === 0 ? 'w' : 'r+');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
        await publish(expectedDigest, state.size);
      },
      async abort() {
        await rm(path, { force: true });
      },
    };
  }
}
