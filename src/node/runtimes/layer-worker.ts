// Worker thread entry: a disk-store embedded runtime's layer thread (see layer-thread.ts). It downloads layer blobs
// into the content store and applies stored layers to snapshots, for the requests the runtime's thread sends it.
import { rename } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { RawHttpPool, type RawResponse } from '../../net/raw-http.js';
import { Digester, parseDigest } from '../../oci/digest.js';
import { digestMismatch, sizeMismatch } from '../../oci/verifying-stream.js';
import { MAX_RESUMES_WITHOUT_PROGRESS } from '../../oci/resuming-body.js';
import { applyLayer } from './layer-apply.js';
import { giveStage, SyncFile, takeStage } from './layer-store.js';
import { plainError, type LayerJob, type LayerReply } from './layer-thread.js';
import { commitTransactionsSync, saveBlobSync } from './metadata-store.js';

const port = parentPort!;
/** 1 MiB stages, kept between layers, for the downloads and the applies alike. */
const spares: Buffer[] = [];
/** A connection pool per transport of the runtime's (a pull phase), ended with it. */
const pools = new Map<number, RawHttpPool>();
const aborts = new Map<number, AbortController>();
/** Bytes of a response that is not saved (an error, a challenge): what the client reads of one. */
const UNSAVED_BODY_LIMIT = 64 * 1024;
/** The response headers the registry client reads. */
const RESPONSE_HEADERS = ['content-length', 'content-type', 'content-range', 'docker-content-digest', 'www-authenticate', 'location', 'retry-after'];

function reply(r: LayerReply): void {
  port.postMessage(r);
}

async function fetchInto(job: Extract<LayerJob, { op: 'fetch' }>): Promise<void> {
  let pool = pools.get(job.pool);
  if (!pool) pools.set(job.pool, (pool = new RawHttpPool()));
  // Held until the first reply: the caller's header timeout also ends the read of an unsaved body.
  const controller = new AbortController();
  aborts.set(job.id, controller);
  let res: RawResponse;
  try {
    res = await pool.get(job.url, job.headers, controller.signal);
    const headers: [string, string][] = [];
    for (const name of RESPONSE_HEADERS) {
      const v = res.header(name);
      if (v !== null) headers.push([name, v]);
    }
    if (res.status !== 200) {
      reply({ id: job.id, status: res.status, headers, body: await readUnsaved(res, controller.signal) });
      return;
    }
    reply({ id: job.id, status: res.status, headers });
  } finally {
    aborts.delete(job.id);
  }
  // As RegistryClient.getBlob: a Content-Length that is missing (or not a number) checks no size.
  const cl = res.header('content-length');
  const length = cl !== null && /^\d+$/.test(cl.trim()) ? Number(cl) : undefined;
  let file: SyncFile | undefined;
  let received = 0;
  const progress = new BigUint64Array(job.progress);
  const fill = takeStage(spares);
  try {
    const hash = new Digester(parseDigest(job.save.digest).algorithm);
    file = await SyncFile.open(job.save.partial);
    const out = file;
    // As containerd's content.Copy: the body fills a 1 MiB buffer (copyWithBuffer's io.ReadAtLeast), which its
    // content writer writes to the file and then hashes (content/helpers.go; content/local/writer.go Write).
    // Written from each socket read instead, a 500 MB pull took half of containerd's system time, and 0.85x its
    // time (bench/fidelity --no-sha-ext, 2026-12-02); filled so, 1.3-1.75 s against 1.17-1.75 s, and 0.96x.
    let filled = 0;
    const flush = (): void => {
      const bytes = fill.subarray(0, filled);
      out.write(bytes);
      hash.update(bytes);
      filled = 0;
    };
    const take = (view: Buffer): number => {
      received += view.length;
      Atomics.store(progress, 0, BigInt(received));
      if (length !== undefined && received > length) throw sizeMismatch(job.save.digest, length, received);
      for (let from = 0; from < view.length; ) {
        const n = Math.min(view.length - from, fill.length - filled);
        fill.set(view.subarray(from, from + n), filled);
        filled += n;
        from += n;
        if (filled === fill.length) flush();
      }
      return view.length;
    };
    // containerd's httpReadSeeker (remotes/docker/httpreadseeker.go in 1.7, core/remotes/docker/ in 2.0 and 2.1,
    // Read): a body cut short (io.ErrUnexpectedEOF: the connection ended before its length) is opened again at the
    // received offset, and the read goes on; a cut with nothing received since the last one counts against maxRetry
    // (3), and the fourth such cut in a row fails the fetch. A reopen that fails fails it at once. (The same read over
    // RegistryClient's transports, for the inflate-only store: src/oci/resuming-body.ts.)
    let cutsWithoutProgress = 0;
    let skip = 0;
    const skipThenTake = (view: Buffer): number => {
      if (skip === 0) return take(view);
      const n = Math.min(skip, view.length);
      skip -= n;
      return n === view.length ? n : n + take(view.subarray(n));
    };
    for (;;) {
      const before = received;
      try {
        await res.consume(skipThenTake);
        if (skip > 0) throw new Error('unable to discard to offset');
        break;
      } catch (err) {
        if (!(err as { unexpectedEof?: boolean }).unexpectedEof || length === undefined) throw err;
        cutsWithoutProgress = received > before ? 1 : cutsWithoutProgress + 1;
        if (cutsWithoutProgress > MAX_RESUMES_WITHOUT_PROGRESS) throw err;
        ({ res, skip } = await resume(pool, job, received));
      }
    }
    if (filled > 0) flush();
    if (length !== undefined && received !== length) throw sizeMismatch(job.save.digest, length, received);
    const actual = hash.digest();
    if (actual !== job.save.digest) throw digestMismatch(job.save.digest, actual);
    // The verified bytes are committed (synced, renamed) only when the digest matched; the caller removes the rest.
    await out.commit();
    file = undefined;
    await rename(job.save.partial, job.save.path);
  } catch (err) {
    res.discard();
    await file?.close();
    reply({ id: job.id, error: plainError(err), saved: received });
    return;
  } finally {
    giveStage(spares, fill);
  }
  reply({ id: job.id, saved: received });
}

// The fetcher's open(offset) (remotes/docker/fetcher.go dockerFetcher.open; core/remotes/docker/ in 2.x): the same
// GET with `Range: bytes=<offset>-`; a status above 299 fails; a Content-Range must start at the offset, and a
// response without one (a registry that ignores Range: 200 and the whole blob) has its first `offset` bytes dropped.
async function resume(pool: RawHttpPool, job: Extract<LayerJob, { op: 'fetch' }>, offset: number): Promise<{ res: RawResponse; skip: number }> {
  const res = await pool.get(job.url, { ...job.headers, range: `bytes=${offset}-` });
  if (res.status > 299) {
    res.discard();
    throw new Error(`unexpected status code ${job.url}: ${res.status} resuming at byte ${offset}`);
  }
  const range = res.header('content-range');
  if (range !== null) {
    if (!range.startsWith(`bytes ${offset}-`)) {
      res.discard();
      throw new Error(`unhandled content range in response: ${range}`);
    }
    return { res, skip: 0 };
  }
  return { res, skip: offset };
}

// The first bytes of a response that is not saved (a challenge, an error), for the client to read as it reads any. A
// body that fails or is aborted part way gives what had arrived, as the client's own drain gives up on one quietly.
async function readUnsaved(res: RawResponse, signal: AbortSignal): Promise<Buffer> {
  const onAbort = (): void => res.discard();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await res.readSome(UNSAVED_BODY_LIMIT);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

port.on('message', (job: LayerJob) => {
  switch (job.op) {
    case 'apply':
      void applyLayer(job.blob, job.snapshot, job.mediaType, { spares }).then(
        (diffId) => reply({ id: job.id, diffId }),
        (err: unknown) => reply({ id: job.id, error: plainError(err) }),
      );
      return;
    case 'fetch':
      void fetchInto(job).catch((err: unknown) => reply({ id: job.id, error: plainError(err) }));
      return;
    case 'abort':
      aborts.get(job.target)?.abort();
      return;
    case 'ping':
      reply({ id: job.id });
      return;
    case 'commit':
    case 'save':
      try {
        if (job.op === 'commit') commitTransactionsSync(job.fd, job.what, job.firstTx, job.transactions);
        else saveBlobSync(job.partial, job.path, job.bytes);
        reply({ id: job.id });
      } catch (err) {
        reply({ id: job.id, error: plainError(err) });
      }
      return;
    case 'close-pool': {
      pools.get(job.pool)?.close();
      pools.delete(job.pool);
      reply({ id: job.id, closed: true });
      return;
    }
    case 'shutdown': {
      // Every download ends (a request waiting for headers is aborted, a body fails as its socket closes); the
      // applies, local work, run to their end.
      for (const controller of aborts.values()) controller.abort();
      for (const pool of pools.values()) pool.close();
      pools.clear();
      reply({ id: job.id, closed: true });
      return;
    }
  }
});
