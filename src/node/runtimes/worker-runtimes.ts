import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { PullbenchError, type PullbenchErrorCode } from '../../errors.js';
import type { ImageInfo, PullAuth, Runtime, RuntimeStats, SandboxConfig } from '../runtime.js';
import type { EmbeddedRuntimeOptions } from './embedded.js';
import { startModuleWorker } from '../../util/worker.js';

/** @internal the protocol between WorkerRuntime and runtime-worker.ts */
export interface WorkerRequest {
  seq: number;
  id: number;
  op: 'start' | 'pull' | 'status' | 'remove' | 'list' | 'dispose';
  args: unknown[];
}

/** @internal */
export type WorkerReply =
  | { seq: number; ok: true; value: unknown; stats?: RuntimeStats | undefined }
  | { seq: number; ok: false; error: { code?: PullbenchErrorCode; message: string; details?: Record<string, unknown> }; stats?: RuntimeStats | undefined };

/** From this many nodes on, the runtimes go to worker threads unless told otherwise. */
const AUTO_WORKERS_FROM_NODES = 100;
/** Nodes per worker at most, by default: a worker's costs grow faster than its node count. */
const AUTO_NODES_PER_WORKER = 250;
const AUTO_WORKERS_MAX = 8;

/**
 * How many worker threads carry the embedded runtimes: `PULLBENCH_EMULATION_WORKERS`
 * if set (0: every runtime on the main thread), else automatic: none below 100 nodes,
 * from 100 nodes one per core (at most 4), and more for big clusters so that no worker
 * carries more than 250 nodes (at most 8). With workers, the client side of each pull
 * (HTTP, shaping its link, digest verification, decompression) leaves the thread that
 * runs kubelets, the rollout and the registry. Measured on 2 cores (bench/scale,
 * scale-200 at x0.1): 300 nodes 34.4 s on the main thread, 20.0 s with two workers;
 * 100 nodes 9.0 s and 8.5 s, below that a worker's start-up (about 1 s to warm up) is
 * not worth it; 1,000 nodes 61-67 s with two workers, 52.0 s with four, as a worker's
 * cost per node grows with its node count (its heap, its links' scheduling).
 */
export function emulationWorkers(env: NodeJS.ProcessEnv = process.env, nodes = 0, cores = availableParallelism()): number {
  const given = env.PULLBENCH_EMULATION_WORKERS;
  if (given === undefined || given === '') {
    if (nodes < AUTO_WORKERS_FROM_NODES) return 0;
    return Math.min(AUTO_WORKERS_MAX, Math.max(1, Math.min(cores, 4), Math.ceil(nodes / AUTO_NODES_PER_WORKER)));
  }
  const n = Number(given);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new PullbenchError('INVALID_ARGUMENT', `PULLBENCH_EMULATION_WORKERS must be a whole number from 0 to 64, got ${JSON.stringify(given)}`);
  return n;
}

// A larger young generation than V8's default: a worker's pulls make many short-lived buffers and stream
// objects, and fewer scavenges cut its CPU (500 nodes on 2 cores: 44.5-49.9 s of user CPU against 48.2-50.1 s).
function startWorker(): Worker {
  return startModuleWorker(import.meta.url, 'runtime-worker', { maxYoungGenerationSizeMb: 64 });
}

class PooledWorker {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  private failed: Error | undefined;
  readonly worker: Worker;

  constructor() {
    this.worker = startWorker();
    this.worker.unref();
    this.worker.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.seq);
      this.pending.delete(reply.seq);
      p?.resolve(reply);
    });
    const fail = (err: Error): void => {
      this.failed ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new PullbenchError('INTERNAL', `emulation worker exited (code ${code})`)));
  }

  call(id: number, op: WorkerRequest['op'], args: unknown[]): Promise<WorkerReply> {
    if (this.failed) return Promise.reject(this.failed);
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.worker.postMessage({ seq, id, op, args } satisfies WorkerRequest);
    });
  }
}

/** Worker threads hosting embedded runtimes, nodes dealt round robin. */
export class RuntimeWorkers implements AsyncDisposable {
  private readonly workers: PooledWorker[];
  private next = 0;

  constructor(count: number) {
    this.workers = Array.from({ length: count }, () => new PooledWorker());
  }

  /** Worker threads in the pool: the slots of an uplink shared across them. */
  get size(): number {
    return this.workers.length;
  }

  /**
   * An EmbeddedRuntime in a worker thread, behind the Runtime port. Options may
   * depend on which worker (0 to size - 1) gets the runtime: its uplink share slot.
   */
  async start(opts: EmbeddedRuntimeOptions | ((worker: number) => EmbeddedRuntimeOptions)): Promise<Runtime> {
    const id = this.next++;
    const worker = id % this.workers.length;
    const rt = new WorkerRuntime(this.workers[worker]!, id);
    rt.threadId = (await rt.call('start', [typeof opts === 'function' ? opts(worker) : opts])) as number;
    return rt;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }

  /** Starts ending every thread, synchronously (at process exit): they stop while the exit's other work runs, not after it. */
  terminateNow(): void {
    for (const w of this.workers) void w.worker.terminate();
  }
}

class WorkerRuntime implements Runtime {
  readonly name = 'embedded';
  /** The worker thread hosting this runtime (its worker_threads threadId), known once started. */
  threadId: number | undefined;
  private last: RuntimeStats = { pulls: 0, failedPulls: 0, bytesDownloaded: 0, requests: 0 };
  constructor(
    private readonly worker: PooledWorker,
    private readonly id: number,
  ) {}

  async call(op: WorkerRequest['op'], args: unknown[]): Promise<unknown> {
    const reply = await this.worker.call(this.id, op, args);
    if (reply.stats) this.last = reply.stats;
    if (reply.ok) return reply.value;
    const e = reply.error;
    throw new PullbenchError(e.code ?? 'INTERNAL', e.message, { details: e.details ?? {} });
  }

  async pullImage(image: string, auth?: PullAuth, sandbox?: SandboxConfig): Promise<string> {
    return (await this.call('pull', [image, auth, sandbox])) as string;
  }

  async imageStatus(image: string): Promise<ImageInfo | undefined> {
    return (await this.call('status', [image])) as ImageInfo | undefined;
  }

  async removeImage(image: string): Promise<void> {
    await this.call('remove', [image]);
  }

  async listImages(): Promise<ImageInfo[]> {
    return (await this.call('list', [])) as ImageInfo[];
  }

  stats(): RuntimeStats {
    return { ...this.last };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.call('dispose', []).catch(() => undefined);
  }
}
