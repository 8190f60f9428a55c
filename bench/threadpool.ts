/**
 * libuv's thread pool for the benches that host disk-store embedded runtimes.
 *
 * A node's pull keeps several blocking calls in flight at once: a blob write
 * and then its fsync per download (3 at a time), the apply's reads,
 * decompression and snapshot writes, and the metadata syncs. containerd's Go
 * runtime gives each blocking call a thread of its own; libuv's pool has 4 by
 * default, so fsyncs queue the rest of the pull behind them (250 MB in 8
 * layers, back to back on this machine: 1.26x containerd's time with 4
 * threads, 1.01x with 16). libuv reads UV_THREADPOOL_SIZE once, at the pool's
 * first use, and loading an ES module already uses it: so the size cannot be
 * set from inside an ES module, and the bench runs itself again with it set.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

export const BENCH_THREADPOOL_SIZE = 16;

/**
 * Returns when this process already runs with UV_THREADPOOL_SIZE set (by the
 * caller's environment, or by this function's re-run) and with `env`'s
 * variables as given; otherwise runs this same script again with them set
 * (the pool to BENCH_THREADPOOL_SIZE unless the caller set it) and exits with
 * that run's status. `env` is for what a process reads only as it starts,
 * such as OpenSSL's OPENSSL_ia32cap. Ctrl-C at a terminal reaches the re-run directly (same
 * process group), so this process ignores SIGINT rather than pass on a second
 * one; a SIGTERM to this process is passed on. (A SIGINT sent to this
 * process's pid alone is therefore ignored: stop it with SIGTERM.)
 */
export async function withThreadpool(env: Record<string, string> = {}): Promise<void> {
  const missing = Object.entries(env).filter(([k, v]) => process.env[k] !== v);
  if (process.env.UV_THREADPOOL_SIZE !== undefined && missing.length === 0) return;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? String(BENCH_THREADPOOL_SIZE), ...env },
  });
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  // A run ended by a signal exits as a shell reports it: 128 + the signal's number.
  const code = await new Promise<number>((resolve) =>
    child.on('exit', (status, signal) => resolve(status ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0))),
  );
  process.exit(code);
}
