import { Readable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { PullbenchError, isPullbenchError, type PullbenchErrorCode } from '../../errors.js';
import type { HttpPool, HttpRequest, HttpResponse, HttpTransport } from '../../net/http-pool.js';
import { startModuleWorker, structuredSafe } from '../../util/worker.js';

/** @internal the protocol between LayerThread and layer-worker.ts */
export type LayerJob =
  | { op: 'apply'; id: number; blob: string; snapshot: string; mediaType: string }
  | {
      op: 'fetch';
      id: number;
      pool: number;
      url: string;
      headers: Record<string, string>;
      save: NonNullable<HttpRequest['saveTo']>;
      /** A BigUint64 the thread keeps (Atomics.store) at the bytes received so far: still readable if the thread dies. */
      progress: SharedArrayBuffer;
    }
  | { op: 'abort'; id: number; target: number }
  | { op: 'close-pool'; id: number; pool: number }
  | { op: 'ping'; id: number }
  | { op: 'commit'; id: number; fd: number; what: string; firstTx: number; transactions: number }
  | { op: 'save'; id: number; partial: string; path: string; bytes: Uint8Array }
  | { op: 'shutdown'; id: number };

/** @internal A fetch is answered twice: its status and headers (with the body of an unsaved response), then its end. */
export interface LayerReply {
  id: number;
  diffId?: string;
  status?: number;
  headers?: [string, string][];
  body?: Uint8Array;
  /** Bytes received and verified (also on failure: what had arrived). */
  saved?: number;
  closed?: boolean;
  error?: PlainError;
}

/** @internal What crosses the thread boundary of an error: structured clone keeps an Error's message, not its code. */
export interface PlainError {
  message: string;
  pullbench?: { code: PullbenchErrorCode; details: Record<string, unknown> };
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

/** @internal */
export function plainError(err: unknown): PlainError {
  if (isPullbenchError(err)) return { message: err.message, pullbench: { code: err.code, details: structuredSafe(err.details) } };
  const e = err as NodeJS.ErrnoException;
  const out: PlainError = { message: e?.message ?? String(err) };
  for (const key of ['code', 'syscall', 'path'] as const) if (typeof e?.[key] === 'string') out[key] = e[key];
  if (typeof e?.errno === 'number') out.errno = e.errno;
  return out;
}

/** @internal */
export function fromPlain(e: PlainError): Error {
  if (e.pullbench) return new PullbenchError(e.pullbench.code, e.message, { details: e.pullbench.details });
  const { message, pullbench: _, ...props } = e;
  return Object.assign(new Error(message), props);
}

/**
 * A disk-store embedded runtime's layer threads, as containerd's fetches and
 * unpacks run beside its resolves: layer blobs are downloaded into the content
 * store there (through transport()), and stored layers applied there
 * (apply()). A layer's bytes then stay out of the runtime's thread, whose
 * heap they used to churn: node:http hands over a new socket buffer and a new
 * copy of the body for every 64 KiB it reads, and zlib a new buffer for every
 * MiB it inflates. V8 starts a full garbage collection each time some MB of
 * such memory has built up, and one marks the thread's whole heap. In the fidelity benchmark
 * (bench/fidelity/embedded-profile.ts --mb 250 --layers 8, --trace-gc) the
 * runtime's thread, a heap of 10-11 MB, went through 21-22 of them per pull
 * with the layers in it, and 12 in the whole run (setup and four pulls) with
 * them here; a layer thread's heap of about 6 MB went through a few, cheap ones,
 * and the pull's CPU time fell from 1.75-2.6 s to 1.56-1.66 s (the same
 * machine, the same hour). The threads read layer bodies with RawHttpPool
 * (src/net/raw-http.ts) into reused buffers, not node:http's fresh ones.
 *
 * There are up to `maxThreads` of them (the embedded runtime asks for its
 * max_concurrent_downloads and one more, for the applies): each job goes to
 * an idle thread, to a new one while there are fewer, or else to the least
 * busy, so that concurrent downloads hash on as many cores as the
 * machine gives, as containerd's goroutines do. With one thread for all, the
 * three downloads of a pull hashed on one core while the other one idled, and
 * the embedded runtime took 1.13-1.33x containerd's time (bench/fidelity,
 * --no-sha-ext); see docs/emulation-and-fidelity.md. The first thread starts with the runtime, the
 * others as they are needed or all at once with started(), and all end at close();
 * one that dies fails what it was doing, and the next job starts another in its place.
 */
export class LayerThread {
  private threads: Thread[] = [new Thread()];
  private closed = false;
  private pools = 0;

  constructor(private maxThreads = 1) {}

  /** Allows up to `n` threads (never fewer than now). */
  raiseTo(n: number): void {
    this.maxThreads = Math.max(this.maxThreads, n);
  }

  /** Threads it may start. */
  get capacity(): number {
    return this.maxThreads;
  }

  /** Threads started and not dead (for tests). */
  get liveThreads(): number {
    return this.threads.filter((t) => !t.dead).length;
  }

  /**
   * Starts every thread and resolves once each has loaded its module and answered: a node's containerd is up before
   * a pod asks it to pull, so a timed pull should not pay for starting V8 isolates (tens of ms each).
   */
  async started(): Promise<void> {
    while (this.threads.length < this.maxThreads) this.threads.push(new Thread());
    await Promise.all(this.threads.map((t) => new Promise<void>((resolve) => t.call({ op: 'ping' }, () => (resolve(), true)))));
  }

  /** Metadata transactions into the journal open as `fd` (metadata-store.ts commitTransactionsSync). */
  commit(fd: number, what: string, firstTx: number, transactions: number): Promise<void> {
    return this.job({ op: 'commit', fd, what, firstTx, transactions }).then(() => undefined);
  }

  /** A small blob written, synced and renamed into the content store (metadata-store.ts saveBlobSync). */
  save(partial: string, path: string, bytes: Uint8Array): Promise<void> {
    return this.job({ op: 'save', partial, path, bytes }).then(() => undefined);
  }

  // A job answered once, by an idle thread if there is one.
  private job(job: Job): Promise<LayerReply> {
    return new Promise((resolve, reject) => {
      const thread = this.thread();
      if (thread instanceof Error) {
        reject(thread);
        return;
      }
      thread.call(job, (r) => {
        if (r.error) reject(fromPlain(r.error));
        else resolve(r);
        return true;
      });
    });
  }

  /** Applies the stored blob to the snapshot file; resolves to its diff id. */
  apply(blob: string, snapshot: string, mediaType: string): Promise<string> {
    return this.job({ op: 'apply', blob, snapshot, mediaType }).then((r) => r.diffId!);
  }

  /**
   * A transport that sends requests with `saveTo` from a layer thread (their
   * own connections, as containerd's fetcher has a transport of its own) and
   * every other request through `local`. Close it with the pull phase.
   */
  transport(local: HttpPool): HttpTransport & { close(): Promise<void> } {
    const pool = ++this.pools;
    return {
      request: (url, req) => (req.saveTo && req.method === 'GET' ? this.fetch(pool, url, req) : local.request(url, req)),
      close: async () => {
        await local.close();
        // A thread that died took its connections with it.
        await Promise.all(
          this.threads.map((thread) =>
            thread.dead ? undefined : new Promise<void>((resolve) => thread.call({ op: 'close-pool', pool }, () => (resolve(), true))),
          ),
        );
      },
    };
  }

  /**
   * Ends the threads: downloads under way fail (their connections are closed),
   * applies under way finish (for at most `graceMs`), and nothing more starts.
   */
  async close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    this.closed = true;
    const threads = this.threads;
    this.threads = [];
    await Promise.all(threads.map((t) => t.close(graceMs)));
  }

  // The thread for the next job: an idle one, a new one while there are fewer than maxThreads, else the least busy;
  // a dead one is replaced. None once closed.
  private thread(): Thread | Error {
    if (this.closed) return new PullbenchError('INTERNAL', 'the embedded runtime is closed');
    this.threads = this.threads.filter((t) => !t.dead);
    let best: Thread | undefined;
    for (const t of this.threads) if (!best || t.load < best.load) best = t;
    if (best && (best.load === 0 || this.threads.length >= this.maxThreads)) return best;
    const fresh = new Thread();
    this.threads.push(fresh);
    return fresh;
  }

  private fetch(pool: number, url: string, req: HttpRequest): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const thread = this.thread();
      if (thread instanceof Error) {
        reject(thread);
        return;
      }
      let settle: { resolve: (n: number) => void; reject: (err: Error) => void } | undefined;
      const onAbort = (): void => thread.post({ op: 'abort', target: id });
      const progress = new SharedArrayBuffer(8);
      const id = thread.call({ op: 'fetch', pool, url, headers: req.headers, save: req.saveTo!, progress }, (r) => {
        if (settle) {
          // A thread that died says nothing of what it had received: the shared count does.
          if (r.error) settle.reject(Object.assign(fromPlain(r.error), { bytesReceived: r.saved ?? Number(Atomics.load(new BigUint64Array(progress), 0)) }));
          else settle.resolve(r.saved!);
          return true;
        }
        req.signal?.removeEventListener('abort', onAbort);
        if (r.error) {
          reject(fromPlain(r.error));
          return true;
        }
        const headers = new Map(r.headers);
        const res: HttpResponse = {
          status: r.status!,
          headers: { get: (name) => headers.get(name.toLowerCase()) ?? null },
          body: Readable.from(r.body ? [Buffer.from(r.body)] : []),
        };
        if (r.status === 200) {
          const received = new BigUint64Array(progress);
          res.progress = () => Number(Atomics.load(received, 0));
          res.saved = new Promise<number>((ok, fail) => (settle = { resolve: ok, reject: fail }));
          res.saved.catch(() => undefined);
        }
        resolve(res);
        return r.status !== 200;
      });
      req.signal?.addEventListener('abort', onAbort, { once: true });
      if (req.signal?.aborted) onAbort();
    });
  }
}

/** Layer threads a JS thread's disk-store runtimes share at most. */
const MAX_SHARED_LAYER_THREADS = 8;
let shared: { threads: LayerThread; users: number } | undefined;

/**
 * The layer threads of this JS thread's disk-store runtimes, shared by all of them, as the nodes of one machine
 * share its cores: each runtime adds the threads it wants (its max_concurrent_downloads and one more) up to
 * MAX_SHARED_LAYER_THREADS in all. A thread per runtime made a 12-node scenario start 48 V8 isolates, each
 * loading its modules, where 8 hash on 2 cores as fast. Give it back with releaseLayerThreads.
 */
export function acquireLayerThreads(wanted: number): LayerThread {
  if (!shared) shared = { threads: new LayerThread(0), users: 0 };
  shared.users++;
  shared.threads.raiseTo(Math.min(MAX_SHARED_LAYER_THREADS, shared.threads.capacity + wanted));
  return shared.threads;
}

/** One runtime done with the shared threads; the last one ends them (see LayerThread.close). */
export async function releaseLayerThreads(threads: LayerThread): Promise<void> {
  if (shared?.threads !== threads || --shared.users > 0) return;
  shared = undefined;
  await threads.close();
}

/** How long close() lets the applies under way run before it ends the thread anyway. */
const CLOSE_GRACE_MS = 5000;

type Job = LayerJob extends infer J ? (J extends LayerJob ? Omit<J, 'id'> : never) : never;

class Thread {
  private readonly worker: Worker;
  /** Each job's reply handler, which returns true once the job is done. */
  private readonly pending = new Map<number, (reply: LayerReply) => boolean>();
  private readonly idle: (() => void)[] = [];
  private seq = 0;
  dead: Error | undefined;

  /** Jobs sent and not done. */
  get load(): number {
    return this.pending.size;
  }

  constructor() {
    this.worker = startModuleWorker(import.meta.url, 'layer-worker');
    // Held only while a job is under way.
    this.worker.unref();
    this.worker.on('message', (reply: LayerReply) => this.answer(reply.id, reply));
    this.worker.on('error', (err) => this.fail(new PullbenchError('INTERNAL', `the layer thread failed: ${err.message}`, { cause: err })));
    this.worker.on('exit', (code) => this.fail(new PullbenchError('INTERNAL', `the layer thread exited (code ${code})`)));
  }

  /** Sends a job; its replies go to `onReply`. Returns the job's id. */
  call(job: Job, onReply: (reply: LayerReply) => boolean): number {
    const id = ++this.seq;
    if (this.dead) {
      const error = plainError(this.dead);
      queueMicrotask(() => onReply({ id, error }));
      return id;
    }
    this.pending.set(id, onReply);
    if (this.pending.size === 1) this.worker.ref();
    this.worker.postMessage({ ...job, id } as LayerJob);
    return id;
  }

  /** Sends a message that gets no reply. */
  post(job: Job): void {
    if (!this.dead) this.worker.postMessage({ ...job, id: ++this.seq } as LayerJob);
  }

  async close(graceMs: number): Promise<void> {
    if (this.pending.size > 0 && !this.dead) {
      this.post({ op: 'shutdown' });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idle.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    this.dead ??= new PullbenchError('INTERNAL', 'the layer thread is closed');
    await this.worker.terminate();
  }

  private answer(id: number, reply: LayerReply): void {
    const onReply = this.pending.get(id);
    if (!onReply || !onReply(reply)) return;
    this.pending.delete(id);
    if (this.pending.size > 0) return;
    this.worker.unref();
    for (const resolve of this.idle.splice(0)) resolve();
  }

  private fail(err: Error): void {
    this.dead ??= err;
    const error = plainError(this.dead);
    for (const id of [...this.pending.keys()]) this.answer(id, { id, error });
    for (const resolve of this.idle.splice(0)) resolve();
  }
}
