// Worker thread entry: a disk-store embedded runtime's layer thread (see layer-thread.ts). It downloads layer blobs
// into the content store and applies stored layers to snapshots, for the requests the runtime's thread sends it.
import { rename } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parentPort } from 'node:worker_threads';
import { HttpPool } from '../../net/http-pool.js';
import { VerifyingStream } from '../../oci/verifying-stream.js';
import { applyLayer, BlobSink, decompressor, STAGE_BYTES } from './layer-store.js';
import { plainError, type LayerJob, type LayerReply } from './layer-thread.js';

const port = parentPort!;
/** 1 MiB stages, kept between layers, for the downloads and the applies alike. */
const spares: Buffer[] = [];
/** A connection pool per transport of the runtime's (a pull phase), ended with it. */
const pools = new Map<number, HttpPool>();
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
  if (!pool) pools.set(job.pool, (pool = new HttpPool()));
  // Held until the first reply: the caller's header timeout also ends the read of an unsaved body.
  const controller = new AbortController();
  aborts.set(job.id, controller);
  let res;
  try {
    res = await pool.request(job.url, { method: 'GET', headers: job.headers, signal: controller.signal });
    const headers: [string, string][] = [];
    for (const name of RESPONSE_HEADERS) {
      const v = res.headers.get(name);
      if (v !== null) headers.push([name, v]);
    }
    if (res.status !== 200) {
      reply({ id: job.id, status: res.status, headers, body: await readUnsaved(res.body, controller.signal) });
      return;
    }
    reply({ id: job.id, status: res.status, headers });
  } finally {
    aborts.delete(job.id);
  }
  const length = Number(res.headers.get('content-length') ?? -1);
  // As RegistryClient.getBlob: a Content-Length that is missing (or not a number) checks no size.
  const verifier = new VerifyingStream(job.save.digest, length >= 0 ? length : undefined);
  try {
    // The verified bytes are committed (synced, renamed) only when the digest matched; the caller removes the rest.
    await pipeline(res.body, verifier, await BlobSink.open(job.save.partial, spares));
    await rename(job.save.partial, job.save.path);
  } catch (err) {
    res.body.destroy();
    reply({ id: job.id, error: plainError(err), saved: verifier.size });
    return;
  }
  reply({ id: job.id, saved: verifier.size });
}

// The first bytes of a response that is not saved (a challenge, an error), for the client to read as it reads any. A
// body that fails or is aborted part way gives what had arrived, as the client's own drain gives up on one quietly.
async function readUnsaved(body: Readable, signal: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  const onAbort = (): void => void body.destroy(new Error('request aborted'));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      n += chunk.length;
      if (n >= UNSAVED_BODY_LIMIT) break;
    }
  } catch {
    // What had arrived is the body.
  } finally {
    signal.removeEventListener('abort', onAbort);
    body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, UNSAVED_BODY_LIMIT);
}

port.on('message', (job: LayerJob) => {
  switch (job.op) {
    case 'apply':
      void applyLayer(job.blob, job.snapshot, decompressor(job.mediaType, STAGE_BYTES), spares).then(
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
    case 'close-pool': {
      const pool = pools.get(job.pool);
      pools.delete(job.pool);
      void (pool?.close() ?? Promise.resolve()).then(() => reply({ id: job.id, closed: true }));
      return;
    }
    case 'shutdown': {
      // Every download ends (a request waiting for headers is aborted, a body fails as its socket closes); the
      // applies, local work, run to their end.
      for (const controller of aborts.values()) controller.abort();
      const closing = [...pools.values()].map((p) => p.close());
      pools.clear();
      void Promise.all(closing).then(() => reply({ id: job.id, closed: true }));
      return;
    }
  }
});
