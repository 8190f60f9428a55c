/**
 * Process-wide cleanup: everything pullbench starts (child processes, temp
 * dirs, servers) registers a disposer here so that it is released on success,
 * failure, and Ctrl-C. The first SIGINT/SIGTERM runs every disposer (newest
 * first) and exits 130. A second SIGINT while that runs forces exit: the
 * disposers not yet done then get their synchronous fallbacks (child process
 * groups killed, temp dirs removed). A second SIGTERM is ignored: automation
 * (pkill, a supervisor, a parent passing on the signal its group got) often
 * sends more than one, and the cleanup under way is what it asked for.
 */
type Disposer = () => Promise<void> | void;

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

/**
 * Runs every registered disposer, newest first, collecting rather than throwing errors. Each stays registered
 * until it has run, so that an exit meanwhile still runs its synchronous fallback.
 */
export async function runAllCleanups(): Promise<Error[]> {
  const entries = [...disposers.entries()].reverse();
  const errors: Error[] = [];
  for (const [id, { label, fn }] of entries) {
    if (!disposers.has(id)) continue;
    try {
      await fn();
    } catch (err) {
      errors.push(new Error(`cleanup of ${label} failed: ${(err as Error).message}`));
    } finally {
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
  const onSignal = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      if (signal === 'SIGTERM') return;
      process.stderr.write(`\n${signal} again: exiting without finishing cleanup\n`);
      process.exit(130);
    }
    shuttingDown = true;
    // Nothing of ours to stop: leave quietly (test runners end idle workers this way).
    if (disposers.size > 0) process.stderr.write(`\n${signal}: cleaning up (press Ctrl-C again to force)\n`);
    void runAllCleanups().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Synchronous last resort for child processes if the process exits without cleanup.
  process.on('exit', () => {
    for (const { fn } of disposers.values()) {
      const sync = (fn as { sync?: () => void }).sync;
      if (sync) sync();
    }
  });
}

/** Marks a disposer as also having a synchronous fallback for process 'exit'. */
export function withSyncFallback(fn: Disposer, sync: () => void): Disposer {
  return Object.assign(fn, { sync });
}
