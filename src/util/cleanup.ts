/**
 * Process-wide cleanup: everything pullbench starts (child processes, temp
 * dirs, servers) registers a disposer here so that it is released on success,
 * failure, and Ctrl-C. The first SIGINT/SIGTERM runs every disposer (newest
 * first) and exits 130. A second SIGINT while that runs forces exit: the
 * disposers not yet done, and the one under way, then get their synchronous
 * fallbacks (child process groups killed, temp dirs removed). A second SIGTERM
 * within REPEATED_SIGTERM_MS of the first is ignored: automation (pkill -f, a
 * parent passing on the signal its group also got) often sends the same one
 * twice, and the cleanup under way is what it asked for; a later one forces
 * exit, as a second Ctrl-C does.
 */
type Disposer = () => Promise<void> | void;

/** A SIGTERM this soon after the first is taken as the same request sent twice. */
const REPEATED_SIGTERM_MS = 2000;

const disposers = new Map<number, { label: string; fn: Disposer }>();
let nextId = 1;
let installed = false;
let shuttingDown = false;

export function registerCleanup(label: string, fn: Disposer): () => void {
  installSignalHandlers();
  const id = nextId++;
  disposers.set(id, { label, fn });
  return () => {
    disposers.delete(id);
  };
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
    void runAllCleanups().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Synchronous last resort for child processes if the process exits without cleanup.
  process.on('exit', () => {
    const left = new Set([...disposers.values()].map((d) => d.fn));
    if (running) left.add(running);
    for (const fn of left) {
      const sync = (fn as { sync?: () => void }).sync;
      if (sync) sync();
    }
  });
}

/** Marks a disposer as also having a synchronous fallback for process 'exit'. */
export function withSyncFallback(fn: Disposer, sync: () => void): Disposer {
  return Object.assign(fn, { sync });
}
