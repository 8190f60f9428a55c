// Worker thread entry: hosts the embedded runtimes of a share of the emulated nodes (see worker-runtimes.ts).
import { parentPort, threadId } from 'node:worker_threads';
import { isPullbenchError } from '../../errors.js';
import { EmbeddedRuntime, type EmbeddedRuntimeOptions } from './embedded.js';
import type { WorkerReply, WorkerRequest } from './worker-runtimes.js';
import { structuredSafe } from '../../util/worker.js';

const runtimes = new Map<number, EmbeddedRuntime>();
const port = parentPort!;

async function handle(req: WorkerRequest): Promise<unknown> {
  if (req.op === 'start') {
    runtimes.set(req.id, await EmbeddedRuntime.start(req.args[0] as EmbeddedRuntimeOptions));
    // The thread hosting the runtime, so the pool (and its tests) can tell it left the main thread.
    return threadId;
  }
  const rt = runtimes.get(req.id);
  if (!rt) throw new Error(`no runtime ${req.id} in this worker`);
  switch (req.op) {
    case 'pull':
      return rt.pullImage(...(req.args as Parameters<EmbeddedRuntime['pullImage']>));
    case 'status':
      return rt.imageStatus(req.args[0] as string);
    case 'remove':
      return rt.removeImage(req.args[0] as string);
    case 'list':
      return rt.listImages();
    case 'dispose':
      runtimes.delete(req.id);
      return rt[Symbol.asyncDispose]();
  }
}

port.on('message', (req: WorkerRequest) => {
  void handle(req).then(
    (value) => port.postMessage({ seq: req.seq, ok: true, value, stats: runtimes.get(req.id)?.stats() } satisfies WorkerReply),
    (err: unknown) => {
      const e = err as Error;
      const error = isPullbenchError(err) ? { code: err.code, message: err.message, details: structuredSafe(err.details) } : { message: e?.message ?? String(err) };
      port.postMessage({ seq: req.seq, ok: false, error, stats: runtimes.get(req.id)?.stats() } satisfies WorkerReply);
    },
  );
});
