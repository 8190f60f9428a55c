/**
 * Process-wide cleanup: everything pullbench starts (child processes, temp
 * dirs, servers) registers a disposer here so that it is released on success,
 * failure, and Ctrl-C. The first SIGINT/SIGTERM aborts interruptSignal() (a
 * rollout, a cluster's start, the nodes' pulls stop at it) and exits 130 at once
 * when every synchronous fallback does its disposer's whole job (a temp dir's
 * removal, what ends with the process): the exit runs them, newest first.
 * Otherwise it runs every disposer (newest first) and exits 130 when they are
 * done, or as soon as INTERRUPT_GRACE_MS have passed and what is left can be
 * released synchronously at exit (a child process group killed rather than
 * stopped). A disposer with no synchronous fallback (a docker
 * network, a containerd's mounts) is waited for. A second SIGINT while that runs
 * forces exit: the disposers not yet done, and the one under way, then get their
 * synchronous fallbacks. A second SIGTERM within REPEATED_SIGTERM_MS of the first
 * is ignored: automation (pkill -f, a parent passing on the signal its group also
 * got) often sends the same one twice, and the cleanup under way is what it asked
 * for; a later one forces exit, as a second Ctrl-C does.
 */
import { writeSync } from 'node:fs';
import { PullbenchError } from '../errors.js';

type Disposer = () => Promise<void> | void;

/** PULLBENCH_TRACE_EXIT=1: each step from a signal to the exit on stderr, with its wall-clock time (bench/scale/interrupt.ts reads them). */
const TRACE = process.env.PULLBENCH_TRACE_EXIT === '1';

/** One step of an interrupted exit, on stderr when PULLBENCH_TRACE_EXIT=1: synchronous, so the exit handler's steps show too. */
export function traceExit(step: string): void {
  if (TRACE) writeSync(2, `[exit-trace ${(performance.timeOrigin + performance.now()).toFixed(1)}] ${step}\n`);
}

/** With the trace: the main thread's turns longer than 200 ms (when they ended, how long), which a signal waits behind. */
const longTurns: [number, number][] = [];
if (TRACE) {
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last > 200) longTurns.push([now, now - last]);
    if (longTurns.length > 50) longTurns.shift();
    last = now;
  }, 50).unref();
}

/** A SIGTERM this soon after the first is taken as the same request sent twice. */
const REPEATED_SIGTERM_MS = 2000;
/** How long the first signal lets the disposers run, when a fallback would be harsher, before an exit leaves the rest to their synchronous fallbacks. */
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
  disposers.set(id, { label, fn: opts.endsWithProcess && !hasSyncFallback(fn) ? withSyncFallback(wrap(fn), () => undefined, 'equivalent') : fn });
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
    traceExit(`dispose ${label}`);
    try {
      await fn();
    } catch (err) {
      errors.push(new Error(`cleanup of ${label} failed: ${(err as Error).message}`));
    } finally {
      traceExit(`disposed ${label}`);
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

/** What the grace is for: disposers whose fallback would be harsher than themselves (a SIGKILL for a SIGTERM), and what needs them async. */
function wantingGrace(): string[] {
  return [...needingAsync(), ...[...disposers.values()].filter((d) => fallbackOf(d.fn) === 'last-resort').map((d) => d.label)];
}

function installSignalHandlers(): void {
  if (installed) return;
  installed = true;

  let firstAt = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    traceExit(`${signal} handled`);
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
    // Every fallback does the whole job (and rm -rf beats a removal in JavaScript): the exit is the fastest cleanup.
    if (wantingGrace().length === 0) process.exit(130);
    void runAllCleanups().finally(() => {
      traceExit('every disposer done');
      process.exit(130);
    });
    // Past the grace, exit as soon as the exit handler can release what is left; until then, say what is waited for.
    let told = false;
    const check = (): void => {
      const waiting = needingAsync();
      traceExit(`grace check: waiting for ${waiting.length}`);
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
    for (const [at, ms] of longTurns.slice(-8)) traceExit(`a turn of ${ms.toFixed(0)} ms ended ${(performance.now() - at).toFixed(0)} ms before the exit`);
    traceExit('exit handler');
    // Newest first, as the disposers run: a process is killed before the temp dir it writes into is removed.
    const left = new Map([...disposers.values()].reverse().map((d) => [d.fn, d.label]));
    if (running && !left.has(running)) left.set(running, 'the cleanup under way');
    for (const [fn, label] of left) {
      const sync = (fn as { sync?: () => void }).sync;
      if (sync) {
        const t0 = performance.now();
        try {
          sync();
        } catch {
          /* the others still run */
        }
        if (performance.now() - t0 >= 1) traceExit(`synchronous fallback of ${label} done`);
      }
    }
    traceExit('exit handler done');
  });
}

function hasSyncFallback(fn: Disposer): boolean {
  return typeof (fn as { sync?: unknown }).sync === 'function';
}

function fallbackOf(fn: Disposer): SyncFallback | undefined {
  return hasSyncFallback(fn) ? ((fn as { fallback?: SyncFallback }).fallback ?? 'last-resort') : undefined;
}

// A copy to mark, so that marking one registration does not mark the same function registered elsewhere.
function wrap(fn: Disposer): Disposer {
  return () => fn();
}

/**
 * How a synchronous fallback compares with its disposer: `equivalent` does the whole job (removes the same tree,
 * or there is nothing the exit does not end), so a Ctrl-C exits at once and lets it; `last-resort` is harsher (a
 * SIGKILL where the disposer stops a process with SIGTERM), so a Ctrl-C first gives the disposer INTERRUPT_GRACE_MS.
 */
export type SyncFallback = 'equivalent' | 'last-resort';

/** Marks a disposer as also having a synchronous fallback for process 'exit'. */
export function withSyncFallback(fn: Disposer, sync: () => void, fallback: SyncFallback = 'last-resort'): Disposer {
  return Object.assign(fn, { sync, fallback });
}
