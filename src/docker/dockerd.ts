import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PullbenchError } from '../errors.js';
import { registerCleanup } from '../util/cleanup.js';
import { startProcess, type StartedProcess } from '../util/process.js';
import { makeTempDir } from '../util/temp.js';
import { findTool } from '../util/tools.js';

const execFileAsync = promisify(execFile);

/** A private Docker daemon (its own data root, exec root, socket) for tests and `doctor`. */
export interface StartedDockerd extends AsyncDisposable {
  /** `unix:///tmp/pbdk-xxxx/d.sock`, for DOCKER_HOST and `docker -H`. */
  readonly host: string;
  readonly socket: string;
  /** Server version reported by `docker version`, e.g. `20.10.24+dfsg1`. */
  readonly version: string;
  /** Runs the docker CLI against this daemon. */
  docker(args: string[], opts?: { input?: Buffer | string; timeoutMs?: number }): Promise<{ stdout: string; stderr: string }>;
  logs(): string;
  stop(): Promise<void>;
}

export interface DockerdOptions {
  label?: string;
  readyTimeoutMs?: number;
  /**
   * Give the daemon a default bridge of its own (a uniquely named Linux bridge
   * on a free 10.213.x.0/24, deleted on stop), for containers that start on the
   * default network and join another one, as testcontainers does for network
   * aliases. Without it (the default) the daemon has no bridge at all.
   */
  defaultBridge?: boolean;
}

const MAX_SOCKET_PATH = 107;

/**
 * Starts Debian's dockerd isolated in a short temp dir, without iptables rules
 * and without a default bridge unless asked (containers use host networking on
 * 127.0.0.1, or networks of their own). On stop,
 * failure or Ctrl-C: containers are removed, the daemon (and the containerd it
 * spawned) stopped, its mounts unmounted and its directories deleted.
 */
export async function startDockerd(opts: DockerdOptions = {}): Promise<StartedDockerd> {
  const label = `dockerd ${opts.label ?? 'pullbench'}`;
  const dockerdBin = findTool('dockerd');
  const dockerBin = findTool('docker');
  if (!dockerdBin || !dockerBin) {
    throw new PullbenchError('TOOL_MISSING', 'dockerd and docker are needed (apt-get install -y docker.io)', {
      details: { missing: [!dockerdBin && 'dockerd', !dockerBin && 'docker'].filter(Boolean) },
    });
  }
  const dir = await makeTempDir('pbdk-');
  const socket = join(dir.path, 'd.sock');
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    await dir.remove();
    throw new PullbenchError('RUNTIME_START_FAILED', `socket path too long for a unix socket: ${socket}`);
  }
  const host = `unix://${socket}`;
  let bridge: string | undefined;
  const dockerRaw = async (
    args: string[],
    o: { input?: Buffer | string; timeoutMs?: number } = {},
  ): Promise<{ stdout: string; stderr: string }> => {
    const run = execFileAsync(dockerBin, ['-H', host, ...args], {
      timeout: o.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, DOCKER_CONFIG: join(dir.path, 'cfg') },
    });
    if (o.input !== undefined) {
      run.child.stdin?.end(o.input);
    }
    return run;
  };

  let proc: StartedProcess | undefined;
  const teardown = async (): Promise<void> => {
    unregister();
    let networks: string[] = [];
    try {
      if (proc && !proc.exited()) {
        await removeAllContainers(dockerRaw);
        networks = await removeCustomNetworks(dockerRaw);
      }
      await proc?.stop();
    } finally {
      await deleteBridges(networks);
      if (bridge) await execFileAsync('ip', ['link', 'del', bridge]).catch(() => undefined);
      await unmountBelow(dir.path);
      await dir.remove();
    }
  };
  const unregister = registerCleanup(label, teardown);

  try {
    const tmp = join(dir.path, 'tmp');
    await mkdir(tmp);
    if (opts.defaultBridge) bridge = await createBridge(`pbdk${randomBytes(4).toString('hex')}`);
    proc = await startProcess({
      label,
      command: dockerdBin,
      args: [
        '--data-root', join(dir.path, 'data'),
        '--exec-root', join(dir.path, 'x'),
        '-H', host,
        '--pidfile', join(dir.path, 'd.pid'),
        `--bridge=${bridge ?? 'none'}`,
        '--iptables=false',
        '--ip6tables=false',
      ],
      ready: async () => (await dockerRaw(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 5000 })).stdout.trim() !== '',
      // dockerd's supervisor sends the containerd it runs SIGUSR1 before killing it when it stops answering, and
      // containerd writes its stacks to containerd.PID.stacks.log in its temp dir: ours, deleted with the rest.
      env: { ...process.env, TMPDIR: tmp },
      readyTimeoutMs: opts.readyTimeoutMs ?? 60_000,
      stopGraceMs: 15_000,
    });
    const version = (await dockerRaw(['version', '--format', '{{.Server.Version}}'])).stdout.trim();
    const started = proc;
    const docker = async (
      args: string[],
      o?: { input?: Buffer | string; timeoutMs?: number },
    ): Promise<{ stdout: string; stderr: string }> => {
      try {
        return await dockerRaw(args, o);
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new PullbenchError('PROCESS_FAILED', `docker ${args[0] ?? ''} failed: ${(e.stderr ?? e.message).trim()}`, {
          cause: err,
          details: { args: args.slice(0, 2) },
        });
      }
    };
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => (stopping ??= teardown());
    return { host, socket, version, docker, logs: () => started.logs(), stop, [Symbol.asyncDispose]: stop };
  } catch (err) {
    await teardown();
    if (err instanceof PullbenchError && err.code === 'TOOL_MISSING') throw err;
    throw new PullbenchError('RUNTIME_START_FAILED', `${label} did not start: ${(err as Error).message}`, { cause: err });
  }
}

// A bridge on a random free 10.213.x.0/24 (not routed on this host; random so that daemons starting together differ).
async function createBridge(name: string): Promise<string> {
  const routes = (await execFileAsync('ip', ['-4', 'route', 'show'])).stdout;
  const candidates = Array.from({ length: 254 }, (_, i) => i + 1).filter((x) => !routes.includes(`10.213.${x}.`));
  const free = candidates[randomBytes(1)[0]! % Math.max(candidates.length, 1)];
  if (free === undefined) throw new PullbenchError('RUNTIME_START_FAILED', 'no free 10.213.x.0/24 for a private docker bridge');
  await execFileAsync('ip', ['link', 'add', 'name', name, 'type', 'bridge']);
  try {
    await execFileAsync('ip', ['addr', 'add', `10.213.${free}.1/24`, 'dev', name]);
    await execFileAsync('ip', ['link', 'set', name, 'up']);
  } catch (err) {
    await execFileAsync('ip', ['link', 'del', name]).catch(() => undefined);
    throw err;
  }
  return name;
}

async function removeAllContainers(docker: (args: string[]) => Promise<{ stdout: string }>): Promise<void> {
  try {
    const ids = (await docker(['ps', '-aq'])).stdout.split('\n').filter((s) => s.trim() !== '');
    if (ids.length > 0) await docker(['rm', '-f', '-v', ...ids]);
  } catch {
    /* the daemon is going away anyway; mounts are handled below */
  }
}

// A user-defined bridge network is a Linux bridge `br-<id12>` on the host, and it outlives a daemon stopped with the network
// still defined (its data root is deleted, so no later daemon would remove it): remove the networks first.
async function removeCustomNetworks(docker: (args: string[]) => Promise<{ stdout: string }>): Promise<string[]> {
  try {
    const ids = (await docker(['network', 'ls', '--no-trunc', '--filter', 'type=custom', '-q'])).stdout.split('\n').filter((s) => s.trim() !== '');
    for (const id of ids) await docker(['network', 'rm', id]).catch(() => undefined);
    return ids;
  } catch {
    return [];
  }
}

// The safety net for a network `docker network rm` refused: its bridge device, by the name dockerd gives it.
async function deleteBridges(networkIds: string[]): Promise<void> {
  for (const id of networkIds) {
    await execFileAsync('ip', ['link', 'del', `br-${id.slice(0, 12)}`]).catch(() => undefined);
  }
}

// dockerd leaves the overlay data root and its netns bind mounts behind if killed; unmount deepest first.
async function unmountBelow(base: string): Promise<void> {
  const table = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  const inside = new Set<string>();
  for (const row of table.split('\n')) {
    const target = row.split(' ')[1]?.replace(/\\040/g, ' ');
    if (target && (target === base || target.startsWith(`${base}/`))) inside.add(target);
  }
  const deepestFirst = [...inside].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const target of deepestFirst) {
    // A path can be mounted more than once (netns bind mounts): unmount until it is gone.
    for (let i = 0; i < 4; i++) {
      const ok = await execFileAsync('umount', ['-l', target]).then(() => true, () => false);
      if (!ok) break;
    }
  }
}
