import { EventEmitter, once } from 'node:events';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { isPullbenchError } from '../errors.js';
import { RegistryClient } from '../oci/client.js';
import { digestOf } from '../oci/digest.js';
import type { BlobSource, PullThrough } from './app.js';
import type { BasicCredentials } from '../oci/credentials.js';
import type { BlobStore, BlobUpload, ByteRange } from './blob-store.js';
import { RegistryHttpError } from './http-error.js';
import { manifestRecord, parseManifest } from './manifest-validation.js';
import type { Repository, RepositoryIndex } from './repositories.js';

export interface PullThroughOptions {
  upstream: { url: string; credentials?: BasicCredentials | undefined };
  store: BlobStore;
  index: RepositoryIndex;
  counters: { countUpstream(kind: 'manifest' | 'blob'): void; countUpstreamBytes(bytes: number): void };
  /** Injectable for tests. */
  client?: RegistryClient;
}

/** One upstream blob fetch that every concurrent request for the blob follows. */
class InflightBlob extends EventEmitter {
  committed = false;
  error: Error | undefined;
  /** Settles when the background fetch has committed or cleaned up its upload. */
  done: Promise<void> = Promise.resolve();
  abortFetch: () => void = () => undefined;
  constructor(
    readonly size: number,
    readonly upload: BlobUpload,
  ) {
    super();
    this.setMaxListeners(0);
  }
}

const FOLLOW_CHUNK = 1 << 20;
/** How long close() waits for upstream work it cannot abort. */
const CLOSE_WAIT_MS = 5000;

/** True when upstream could not answer (down, or 5xx), as opposed to "not found". */
function upstreamDown(err: unknown): boolean {
  if (isPullbenchError(err, 'REGISTRY_UNREACHABLE') || isPullbenchError(err, 'TIMEOUT')) return true;
  if (isPullbenchError(err)) {
    const status = err.details.status;
    return typeof status === 'number' ? status >= 500 : err.code === 'REGISTRY_ERROR';
  }
  return false;
}

function notFound(err: unknown): boolean {
  return isPullbenchError(err, 'MANIFEST_UNKNOWN') || isPullbenchError(err, 'BLOB_UNKNOWN') || (isPullbenchError(err) && err.details.status === 404);
}

/** Any other upstream failure (refused credentials, bad answers): 502, never a 500. */
function upstreamFailed(err: unknown): RegistryHttpError {
  if (err instanceof RegistryHttpError) return err;
  const code = isPullbenchError(err) ? err.code : 'REGISTRY_ERROR';
  return new RegistryHttpError('UNAVAILABLE', 'upstream registry request failed', { status: 502, detail: { upstream: code } });
}

function unavailable(): RegistryHttpError {
  return new RegistryHttpError('UNAVAILABLE', 'upstream registry unavailable and nothing cached');
}

/**
 * Pull-through mirror: tags revalidated upstream with HEAD on every request
 * (cached manifest served while the digest is unchanged, or when upstream is
 * down); blobs and manifests cached by digest; concurrent misses for one blob
 * share ONE upstream GET whose bytes stream to every waiting client as they
 * land in the upload file.
 */
export function createPullThrough(opts: PullThroughOptions): PullThrough {
  const { store, index, counters } = opts;
  const client = opts.client ?? new RegistryClient({ baseUrl: opts.upstream.url, credentials: opts.upstream.credentials, userAgent: 'pullbench-mirror' });
  const manifestFetches = new Map<string, Promise<void>>();
  const blobFetches = new Map<string, InflightBlob>();
  /** Misses waiting for upstream response headers, so that concurrent misses share one GET. */
  const blobStarts = new Map<string, Promise<InflightBlob | undefined>>();

  async function fetchManifest(repo: Repository, reference: string): Promise<string> {
    counters.countUpstream('manifest');
    const result = await client.getManifest(repo.name, reference);
    const digest = digestOf(result.bytes);
    if (!repo.manifests.has(digest)) {
      const parsed = parseManifest(result.bytes, result.mediaType);
      await store.put(digest, result.bytes);
      repo.addManifest(manifestRecord(digest, result.bytes, parsed));
    }
    return digest;
  }

  async function refresh(repo: Repository, reference: string, isDigest: boolean): Promise<void> {
    if (isDigest) {
      if (repo.manifests.has(reference)) return;
      try {
        await fetchManifest(repo, reference);
      } catch (err) {
        if (notFound(err)) return;
        if (upstreamDown(err)) throw unavailable();
        throw upstreamFailed(err);
      }
      await index.save(repo);
      return;
    }
    const cached = repo.tags.get(reference);
    let upstreamDigest: string;
    try {
      upstreamDigest = (await client.resolve(repo.name, reference)).digest;
    } catch (err) {
      if (upstreamDown(err)) {
        if (cached !== undefined) return;
        throw unavailable();
      }
      if (notFound(err)) {
        repo.tags.delete(reference);
        return;
      }
      throw upstreamFailed(err);
    }
    if (cached === upstreamDigest && repo.manifests.has(cached)) return;
    if (!repo.manifests.has(upstreamDigest)) {
      try {
        await fetchManifest(repo, upstreamDigest);
      } catch (err) {
        if (upstreamDown(err) && cached !== undefined) return;
        if (upstreamDown(err)) throw unavailable();
        throw upstreamFailed(err);
      }
    }
    repo.tags.set(reference, upstreamDigest);
    await index.save(repo);
  }

  function startBlobFetch(repo: Repository, digest: string, size: number, body: Readable): InflightBlob {
    const upload = store.startUpload();
    const inflight = new InflightBlob(size, upload);
    blobFetches.set(digest, inflight);
    const progress = new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
        counters.countUpstreamBytes(chunk.length);
        cb(null, chunk);
      },
    });
    // Tell followers after each chunk has been handed to the file.
    progress.on('data', () => setImmediate(() => inflight.emit('progress')));
    inflight.abortFetch = () => {
      const closing = new Error('registry closing');
      body.destroy(closing);
      progress.destroy(closing);
    };
    inflight.done = (async () => {
      try {
        await upload.append(body.pipe(progress), Number.MAX_SAFE_INTEGER);
        await upload.commit(digest, size >= 0 ? size : undefined);
        repo.blobs.add(digest);
        inflight.committed = true;
        await index.save(repo).catch(() => undefined);
      } catch (err) {
        inflight.error = err instanceof Error ? err : new Error(String(err));
        await upload.abort().catch(() => undefined);
      } finally {
        blobFetches.delete(digest);
        inflight.emit('progress');
      }
    })();
    return inflight;
  }

  function follow(digest: string, inflight: InflightBlob, range?: ByteRange): Readable {
    let pos = range?.start ?? 0;
    const end = range?.end ?? inflight.size - 1;
    let rest: AsyncIterator<Buffer> | undefined;
    return new Readable({
      highWaterMark: FOLLOW_CHUNK,
      async read() {
        try {
          for (;;) {
            if (pos > end) {
              this.push(null);
              return;
            }
            if (inflight.committed) {
              rest ??= (store.read(digest, { start: pos, end }) as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
              const next = await rest.next();
              if (next.done) {
                this.push(null);
                return;
              }
              pos += next.value.length;
              this.push(next.value);
              return;
            }
            if (inflight.error) throw inflight.error;
            const wait = once(inflight, 'progress');
            let chunk: Buffer;
            try {
              chunk = await inflight.upload.readWritten(pos, Math.min(FOLLOW_CHUNK, end - pos + 1));
            } catch {
              chunk = Buffer.alloc(0); // renamed by the commit: the next turn reads the stored blob
            }
            if (chunk.length > 0) {
              pos += chunk.length;
              this.push(chunk);
              return;
            }
            await Promise.race([wait, new Promise((r) => setTimeout(r, 20))]);
          }
        } catch (err) {
          this.destroy(err as Error);
        }
      },
    });
  }

  async function blob(repo: Repository, digest: string): Promise<BlobSource | undefined> {
    const existing = blobFetches.get(digest);
    if (existing) return { size: existing.size, open: (range) => follow(digest, existing, range) };
    if (store.size(digest) !== undefined) {
      // Cached for another repository: visible here only if upstream has it here.
      try {
        if (!(await client.headBlob(repo.name, digest))) return undefined;
      } catch (err) {
        if (!upstreamDown(err)) throw upstreamFailed(err);
        return undefined;
      }
      repo.blobs.add(digest);
      await index.save(repo);
      const size = store.size(digest)!;
      return { size, open: (range) => store.read(digest, range) };
    }
    let starting = blobStarts.get(digest);
    if (!starting) {
      starting = startFromUpstream(repo, digest).finally(() => blobStarts.delete(digest));
      blobStarts.set(digest, starting);
    }
    const inflight = await starting;
    if (!inflight) return undefined;
    return { size: inflight.size, open: (range) => follow(digest, inflight, range) };
  }

  async function startFromUpstream(repo: Repository, digest: string): Promise<InflightBlob | undefined> {
    let result;
    try {
      counters.countUpstream('blob');
      result = await client.getBlob(repo.name, digest);
    } catch (err) {
      if (notFound(err)) return undefined;
      if (upstreamDown(err)) throw unavailable();
      throw upstreamFailed(err);
    }
    if (result.size < 0) {
      result.body.destroy();
      throw new RegistryHttpError('UNAVAILABLE', 'upstream sent a blob without Content-Length');
    }
    return startBlobFetch(repo, digest, result.size, result.body);
  }

  return {
    async manifest(repo, reference, isDigest) {
      const key = `${repo.name}\0${reference}`;
      let pending = manifestFetches.get(key);
      if (!pending) {
        pending = refresh(repo, reference, isDigest).finally(() => manifestFetches.delete(key));
        manifestFetches.set(key, pending);
      }
      await pending;
    },
    blob,
    async close() {
      // Stop every background fill and wait for it to finish its file work, so the
      // storage directory can be removed without a write landing in it meanwhile.
      const fills = [...blobFetches.values()];
      for (const f of fills) f.abortFetch();
      // Closing our own client ends manifest fetches whose upstream stalled mid-body; a
      // client passed in belongs to the caller, so its fetches get a bounded wait instead.
      if (!opts.client) await client.close();
      const settled = Promise.allSettled([...fills.map((f) => f.done), ...manifestFetches.values()]);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([settled, new Promise<void>((r) => (timer = setTimeout(r, CLOSE_WAIT_MS)))]);
      clearTimeout(timer);
    },
  };
}
