import { spawn, type ChildProcess } from 'node:child_process';
import { PullbenchError } from '../errors.js';
import { registerCleanup, withSyncFallback } from './cleanup.js';

export interface ProcessSpec {
  /** Short name for logs and errors, e.g. `containerd node-3`. */
  label: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolves true once the process is ready to serve; polled until `readyTimeoutMs`. */
  ready?: () => Promise<boolean>;
  readyTimeoutMs?: number;
  /** Milliseconds between SIGTERM and SIGKILL on stop. */
  stopGraceMs?: number;
  /** Strings to replace with *** in captured logs and error messages. */
  redact?: string[];
  /** Called with each complete line of stdout and stderr (not redacted), e.g. to count requests from a log. */
  onLine?: (line: string) => void;
  /**
   * Stay in this process's session and process group instead of a session of its own. Linux's autogroup
   * scheduling gives each session an equal CPU share: on a busy machine a daemon in a session of its own gets a
   * share beside this whole process, so a peer whose timings are compared with work done in this process (the
   * emulated nodes' containerd) must share this one. Stopping then signals the process alone.
   */
  sameSession?: boolean;
}

export interface StartedProcess extends AsyncDisposable {
  readonly label: string;
  readonly pid: number;
  /** The last ~64 KiB of combined stdout/stderr, secrets redacted. */
  logs(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

const LOG_LIMIT = 64 * 1024;

/**
 * Starts a child process in its own process group, waits for readiness, and
 * registers it for cleanup so it never outlives pullbench (success, failure,
 * Ctrl-C, or an unexpected exit).
 */
export async function startProcess(spec: ProcessSpec): Promise<StartedProcess> {
  let log = '';
  const redact = (s: string): string =>
    (spec.redact ?? []).filter((r) => r.length > 0).reduce((acc, r) => acc.split(r).join('***'), s);
  const append = (chunk: Buffer): void => {
    log += chunk.toString('utf8');
    if (log.length > LOG_LIMIT) log = log.slice(log.length - LOG_LIMIT);
  };

  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, {
      env: spec.env ?? process.env,
      cwd: spec.cwd,
      detached: spec.sameSession !== true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    throw new PullbenchError('PROCESS_FAILED', `${spec.label}: could not start ${spec.command}`, { cause: err });
  }
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  if (spec.onLine) {
    const onLine = spec.onLine;
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream?.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) onLine(line);
      });
    }
  }

  let exitCode: number | null = null;
  let exitSignal: NodeJS.Signals | null = null;
  let hasExited = false;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      hasExited = true;
      exitCode = code;
      exitSignal = signal;
      resolve();
    });
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));

  const killGroup = (signal: NodeJS.Signals): void => {
    if (hasExited || child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      try {
        child.kill(signal);
      } catch {
        /* already gone */
      }
    }
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    // Registered until it has exited: an exit of pullbench meanwhile (a second Ctrl-C) still kills it.
    stopping ??= (async () => {
      if (hasExited) return;
      killGroup('SIGTERM');
      const grace = spec.stopGraceMs ?? 5000;
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), grace).unref());
      if ((await Promise.race([exitPromise.then(() => 'exited' as const), timer])) === 'timeout') {
        killGroup('SIGKILL');
        await exitPromise;
      }
    })().finally(unregister);
    return stopping;
  };
  const unregister = registerCleanup(
    spec.label,
    withSyncFallback(stop, () => killGroup('SIGKILL')),
  );

  const started: StartedProcess = {
    label: spec.label,
    pid: child.pid ?? -1,
    logs: () => redact(log),
    exited: () => hasExited,
    stop,
    [Symbol.asyncDispose]: stop,
  };

  const fail = async (why: string, cause?: unknown): Promise<never> => {
    await stop();
    const tail = redact(log).split('\n').slice(-20).join('\n');
    throw new PullbenchError('PROCESS_FAILED', `${spec.label}: ${why}\n--- last output ---\n${tail}`, {
      cause,
      details: { label: spec.label, command: spec.command },
    });
  };

  const first = await Promise.race([
    spawnError.then((e) => ({ kind: 'error' as const, e })),
    new Promise<{ kind: 'spawned' }>((r) => child.once('spawn', () => r({ kind: 'spawned' }))),
  ]);
  if (first.kind === 'error') {
    unregister();
    const code = (first.e as NodeJS.ErrnoException).code;
    throw new PullbenchError(
      code === 'ENOENT' ? 'TOOL_MISSING' : 'PROCESS_FAILED',
      `${spec.label}: cannot run ${spec.command}: ${first.e.message}`,
      { cause: first.e, details: { command: spec.command } },
    );
  }

  if (spec.ready) {
    const deadline = Date.now() + (spec.readyTimeoutMs ?? 30_000);
    for (;;) {
      if (hasExited) return fail(`exited before it was ready (code ${exitCode}, signal ${exitSignal})`);
      let ok = false;
      try {
        ok = await spec.ready();
      } catch {
        ok = false;
      }
      if (ok) break;
      if (Date.now() > deadline) return fail(`not ready after ${spec.readyTimeoutMs ?? 30_000} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return started;
}
