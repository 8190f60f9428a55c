/**
 * Process-wide cleanup: everything pullbench starts (child processes, temp
 * dirs, servers) registers a disposer here so that it is released on success,
 * failure, and Ctrl-C. The first SIGINT/SIGTERM aborts interruptSignal() (a
 * rollout, a cluster's start, the nodes' pulls stop at it), runs every disposer
 * (newest first) and exits 130: when they are done, or as soon as
 * INTERRUPT_GRACE_MS have passed and what is left can be released synchronously
 * at exit (temp dirs removed, child process groups killed, in-process servers
 * ending with the process). A disposer with no synchronous fallback (a docker
 * network, a containerd's mounts) is waited for. A second SIGINT while that runs
 * forces exit: the disposers not yet done, and the one under way, then get their
 * synchronous fallbacks. A second SIGTERM within REPEATED_SIGTERM_MS of the first
 * is ignored: automation (pkill -f, a parent passing on the signal its group also
 * got) often sends the same one twice, and the cleanup under way is what it asked
 * for; a later one forces exit, as a second Ctrl-C does.
 */
import { PullbenchError } from '../errors.js';

type Disposer = () => Promise<void> | void;

/** A SIGTERM this soon after the first is taken as the same request sent twice. */
const REPEATED_SIGTERM_MS = 2000;
/** How long the first signal lets the disposers run before an exit leaves the rest to their synchronous fallbacks. */
export const INTERRUPT_GRACE_MS = 1200;

const disposers = new Map<number, { label: string; fn: Disposer }>();
let nextId = 1;
let installed = false;
let shuttingDown = false;
const interruption = new AbortController();

export interface CleanupOptions {
  /**
   * It lives in this process only (a server, a worker thread, timers), so the process's exit ends it, or its parts
   * are registered on their own: an interrupted exit need not wait for it.
   */
  endsWithProcess?: boolean;
}

export function registerCleanup(label: string, fn: Disposer, opts: CleanupOptions = {}): () => void {
  installSignalHandlers();
  const id = nextId++;
  disposers.set(id, { label, fn: opts.endsWithProcess && !hasSyncFallback(fn) ? withSyncFallback(wrap(fn), () => undefined) : fn });
  return () => {
    disposers.delete(id);
  };
}

/**
 * Aborted at the first SIGINT or SIGTERM, with a PullbenchError INTERRUPTED as its reason: long work (a rollout, a
 * cluster's start, pulls) stops at it rather than compete with the cleanup for the CPU.
 */
export function interruptSignal(): AbortSignal {
  installSignalHandlers();
  return interruption.signal;
}

/** The disposer a cleanup pass is running: most unregister themselves as they start, and an exit meanwhile runs its fallback. */
let running: Disposer | undefined;
/** The cleanup passes: one at a time, each running what the ones before it left. */
let passes: Promise<unknown> = Promise.resolve();

/**
 * Runs every registered disposer, newest first, collecting rather than throwing errors. Each stays registered
 * until it has run, so that an exit meanwhile still runs its synchronous fallback. A call while a pass runs
 * waits for it, then runs what is left: no disposer runs twice.
 */
export function runAllCleanups(): Promise<Error[]> {
  const pass = passes.then(runPass);
  passes = pass;
  return pass;
}

async function runPass(): Promise<Error[]> {
  const entries = [...disposers.entries()].reverse();
  const errors: Error[] = [];
  for (const [id, { label, fn }] of entries) {
    if (!disposers.has(id)) continue;
    running = fn;
    try {
      await fn();
    } catch (err) {
      errors.push(new Error(`cleanup of ${label} failed: ${(err as Error).message}`));
    } finally {
      running = undefined;
      disposers.delete(id);
    }
  }
  return errors;
}

export function pendingCleanups(): string[] {
  return [...disposers.values()].map((d) => d.label);
}

/** Work an exit would cut short only to redo it slower: a temp dir's removal under way (its synchronous fallback is serial). */
const inFlight = new Map<number, string>();

/** Marks `work` as cleanup under way that an interrupted exit waits for rather than redo synchronously. */
export function cleanupUnderWay<T>(label: string, work: Promise<T>): Promise<T> {
  const id = nextId++;
  inFlight.set(id, label);
  return work.finally(() => inFlight.delete(id));
}

/** What an exit now would leave undone or redo slower: disposers without a synchronous fallback, removals under way. */
function needingAsync(): string[] {
  const left = [...disposers.values()].filter((d) => !hasSyncFallback(d.fn)).map((d) => d.label);
  const under = running && !hasSyncFallback(running) && ![...disposers.values()].some((d) => d.fn === running) ? ['the cleanup under way'] : [];
  return [...left, ...under, ...inFlight.values()];
}

function installSignalHandlers(): void {
  if (installed) return;
  installed = true;

  let firstAt = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      // The same SIGTERM sent twice (to a process and its group, or passed on by a parent) comes within moments.
      if (signal === 'SIGTERM' && performance.now() - firstAt < REPEATED_SIGTERM_MS) return;
      process.stderr.write(`\n${signal} again: exiting without finishing cleanup\n`);
      process.exit(130);
    }
    shuttingDown = true;
    firstAt = performance.now();
    // Nothing of ours to stop: leave quietly (test runners end idle workers this way).
    if (disposers.size > 0) process.stderr.write(`\n${signal}: cleaning up (press Ctrl-C again to force)\n`);
    interruption.abort(new PullbenchError('INTERRUPTED', `interrupted by ${signal}`));
    void runAllCleanups().finally(() => process.exit(130));
    // Past the grace, exit as soon as the exit handler can release what is left; until then, say what is waited for.
    let told = false;
    const check = (): void => {
      const waiting = needingAsync();
      if (waiting.length === 0) process.exit(130);
      if (!told) process.stderr.write(`waiting for: ${waiting.slice(0, 3).join(', ')}${waiting.length > 3 ? ` and ${waiting.length - 3} more` : ''}\n`);
      told = true;
      setTimeout(check, 100).unref();
    };
    setTimeout(check, INTERRUPT_GRACE_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Synchronous last resort for child processes and temp dirs if the process exits without cleanup.
  process.on('exit', () => {
    const left = new Set([...disposers.values()].map((d) => d.fn));
    if (running) left.add(running);
    for (const fn of left) {
      const sync = (fn as { sync?: () => void }).sync;
      if (sync) {
        try {
          sync();
        } catch {
          /* the others still run */
        }
      }
    }
  });
}

function hasSyncFallback(fn: Disposer): boolean {
  return typeof (fn as { sync?: unknown }).sync === 'function';
}

// A copy to mark, so that marking one registration does not mark the same function registered elsewhere.
function wrap(fn: Disposer): Disposer {
  return () => fn();
}

/** Marks a disposer as also having a synchronous fallback for process 'exit'. */
export function withSyncFallback(fn: Disposer, sync: () => void): Disposer {
  return Object.assign(fn, { sync });
}
