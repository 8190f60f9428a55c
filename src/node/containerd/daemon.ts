import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PullbenchError } from '../../errors.js';
import { registerCleanup } from '../../util/cleanup.js';
import { startProcess, type StartedProcess } from '../../util/process.js';
import { makeTempDir } from '../../util/temp.js';
import { findTool } from '../../util/tools.js';
import { formatGoDuration } from '../kubelet/duration.js';

const execFileAsync = promisify(execFile);

/** A running containerd with its own root, state dir, socket and certs.d. */
export interface StartedContainerd extends AsyncDisposable {
  /** gRPC socket (also serves CRI `runtime.v1`). */
  readonly socket: string;
  readonly root: string;
  readonly state: string;
  /** The `hosts.toml` directory the CRI plugin reads (`certs.d/<host>/hosts.toml`). */
  readonly certsDir: string;
  /** Server version, e.g. `1.6.20~ds1`. */
  readonly version: string;
  /** containerd's process id (its process group is killed on stop). */
  readonly pid: number;
  /** Snapshotter the CRI plugin unpacks into (`overlayfs`, or `native` where overlay mounts fail). */
  readonly snapshotter: string;
  ctr(args: string[]): Promise<{ stdout: string; stderr: string }>;
  /** Last lines of containerd's own log. */
  logs(): string;
  stop(): Promise<void>;
}

export interface ContainerdOptions {
  /** Short name for logs and errors, e.g. `node-3`. */
  label: string;
  /** hosts.toml text by registry host (`127.0.0.1:5000`, `docker.io`), written under certs.d. */
  hostsToml?: Record<string, string>;
  /** CRI `max_concurrent_downloads` (containerd's default is 3). */
  maxConcurrentDownloads?: number;
  /**
   * CRI `image_pull_progress_timeout` in ms (containerd 1.7+; its default is 5 min): set, a containerd older than
   * 1.7, which has no such setting, is refused before it starts.
   */
  imagePullProgressTimeoutMs?: number;
  /** Force a snapshotter instead of probing overlayfs. */
  snapshotter?: 'overlayfs' | 'native';
  readyTimeoutMs?: number;
  /** The service environment's proxy variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), as a systemd drop-in sets them. */
  proxyEnv?: Record<string, string>;
}

// Snapshotters and plugins that need kernel features or devices this harness never uses.
const DISABLED_PLUGINS = [
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
];

/** unix socket paths are limited to 107 bytes (sun_path). */
const MAX_SOCKET_PATH = 107;

/**
 * Starts a real containerd (1.6+) isolated in a temp dir. Everything it creates
 * (process group, mounts under its root, directories) is removed on stop,
 * on failure to start, and on Ctrl-C.
 */
// This process's proxy variables are not the node's: a containerd gets exactly the scenario's, or none.
function withoutProxy(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !/^(https?|no|all)_proxy$/i.test(k)));
}

export async function startContainerd(opts: ContainerdOptions): Promise<StartedContainerd> {
  const containerdBin = findTool('containerd');
  const ctrBin = findTool('ctr');
  if (!containerdBin || !ctrBin) {
    throw new PullbenchError('TOOL_MISSING', 'containerd and ctr are needed (apt-get install -y containerd)', {
      details: { missing: [!containerdBin && 'containerd', !ctrBin && 'ctr'].filter(Boolean) },
    });
  }
  if (opts.imagePullProgressTimeoutMs !== undefined) {
    const version = await installedVersion(containerdBin);
    if (!hasImagePullProgressTimeout(version)) {
      throw new PullbenchError(
        'INVALID_ARGUMENT',
        `cluster.kubelet.imagePullProgressTimeout: the installed containerd ${version} has no image_pull_progress_timeout (containerd 1.7 added it) and would ignore it; remove the field or install containerd 1.7 or later`,
        { details: { field: 'cluster.kubelet.imagePullProgressTimeout', containerd: version } },
      );
    }
  }
  const dir = await makeTempDir('pbctd-');
  const paths = {
    root: join(dir.path, 'root'),
    state: join(dir.path, 'state'),
    certsDir: join(dir.path, 'certs.d'),
    socket: join(dir.path, 'c.sock'),
  };
  if (Buffer.byteLength(paths.socket) + 7 > MAX_SOCKET_PATH) {
    await dir.remove();
    throw new PullbenchError('RUNTIME_START_FAILED', `socket path too long for a unix socket: ${paths.socket}`);
  }
  let proc: StartedProcess | undefined;
  // Registered until done: an exit meanwhile leaves its mounts to nobody, so the first Ctrl-C waits for it.
  let tearing: Promise<void> | undefined;
  const teardown = (): Promise<void> => {
    tearing ??= (async () => {
      try {
        await proc?.stop();
      } finally {
        await unmountUnder(dir.path);
        await dir.remove();
      }
    })().finally(unregister);
    return tearing;
  };
  const unregister = registerCleanup(`containerd ${opts.label}`, teardown);

  try {
    await Promise.all([mkdir(paths.root), mkdir(paths.state), mkdir(paths.certsDir)]);
    for (const [host, text] of Object.entries(opts.hostsToml ?? {})) {
      const hostDir = join(paths.certsDir, certsDirName(host));
      await mkdir(hostDir, { recursive: true });
      await writeFile(join(hostDir, 'hosts.toml'), withHostTree(text));
    }
    const snapshotter = opts.snapshotter ?? (await probeSnapshotter(dir.path));
    const configPath = join(dir.path, 'config.toml');
    await writeFile(configPath, renderConfig(dir.path, paths, snapshotter, opts.maxConcurrentDownloads ?? 3, opts.imagePullProgressTimeoutMs));

    const ctrRaw = (args: string[]): Promise<{ stdout: string; stderr: string }> =>
      execFileAsync(ctrBin, ['--address', paths.socket, ...args], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });

    proc = await startProcess({
      label: `containerd ${opts.label}`,
      command: containerdBin,
      args: ['--config', configPath],
      ready: async () => (await ctrRaw(['version'])).stdout.includes('Server:'),
      readyTimeoutMs: opts.readyTimeoutMs ?? 30_000,
      stopGraceMs: 5000,
      // The daemon's own environment is where containerd (Go's ProxyFromEnvironment) reads a proxy from; nothing else sets one.
      env: { ...withoutProxy(process.env), ...opts.proxyEnv },
      // Its pulls are timed against the embedded runtime's, which run in this process: the same CPU share for both.
      sameSession: true,
    });
    const { stdout } = await ctrRaw(['version']);
    const version = /Server:\s*\n\s*Version:\s*(\S+)/.exec(stdout)?.[1] ?? 'unknown';
    const started = proc;

    const ctr = async (args: string[]): Promise<{ stdout: string; stderr: string }> => {
      try {
        return await ctrRaw(args);
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new PullbenchError('PROCESS_FAILED', `ctr ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`, {
          cause: err,
          details: { label: opts.label },
        });
      }
    };
    const stop = teardown;
    return {
      ...paths,
      pid: started.pid,
      version,
      snapshotter,
      ctr,
      logs: () => started.logs(),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await teardown();
    if (err instanceof PullbenchError && err.code !== 'PROCESS_FAILED') throw err;
    throw new PullbenchError('RUNTIME_START_FAILED', `containerd ${opts.label} did not start: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

// `containerd --version`: `containerd github.com/containerd/containerd 1.6.20~ds1 <commit>` -> `1.6.20~ds1`.
async function installedVersion(bin: string): Promise<string> {
  const { stdout } = await execFileAsync(bin, ['--version'], { timeout: 10_000 });
  return /containerd\S*\s+(v?\d+\.\d+\S*)/.exec(stdout)?.[1] ?? 'unknown';
}

/**
 * Whether a containerd release reads CRI's image_pull_progress_timeout: 1.7.0 added it (pkg/cri/config/config.go
 * ImagePullProgressTimeout; absent from 1.6.x), 2.x keeps it.
 */
export function hasImagePullProgressTimeout(version: string): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(version);
  return m !== null && (Number(m[1]) > 1 || (Number(m[1]) === 1 && Number(m[2]) >= 7));
}

/**
 * containerd 1.6/1.7 reject a hosts.toml without any `[host]` table ("invalid
 * `host` tree", containerd/containerd#10027) and silently fall back to the
 * default endpoint; an empty `[host]` table (k3s's workaround) makes them read
 * the root fields (`server`, ...) as documented.
 */
export function withHostTree(text: string): string {
  return /^\s*\[\s*host\s*[.\]]/m.test(text) ? text : `${text.replace(/\s*$/, '')}\n\n[host]\n`;
}

/** containerd maps `host:port` to a certs.d directory of the same name (docker.io stays docker.io). */
function certsDirName(host: string): string {
  if (!/^[A-Za-z0-9.\-_:[\]]+$/.test(host) || host.includes('..')) {
    throw new PullbenchError('INVALID_ARGUMENT', `not a registry host: ${JSON.stringify(host)}`);
  }
  return host;
}

function renderConfig(
  base: string,
  p: { root: string; state: string; certsDir: string; socket: string },
  snapshotter: string,
  maxConcurrentDownloads: number,
  imagePullProgressTimeoutMs: number | undefined,
): string {
  const q = (s: string): string => JSON.stringify(s);
  return [
    'version = 2',
    `root = ${q(p.root)}`,
    `state = ${q(p.state)}`,
    `disabled_plugins = [${DISABLED_PLUGINS.map(q).join(', ')}]`,
    '[grpc]',
    `  address = ${q(p.socket)}`,
    '[ttrpc]',
    `  address = ${q(`${p.socket}.ttrpc`)}`,
    '[debug]',
    `  address = ${q(join(base, 'd.sock'))}`,
    '  level = "info"',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(join(base, 'opt'))}`,
    '[plugins."io.containerd.grpc.v1.cri"]',
    '  disable_tcp_service = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    `  max_concurrent_downloads = ${maxConcurrentDownloads}`,
    ...(imagePullProgressTimeoutMs !== undefined ? [`  image_pull_progress_timeout = ${q(formatGoDuration(imagePullProgressTimeoutMs))}`] : []),
    '  [plugins."io.containerd.grpc.v1.cri".containerd]',
    `    snapshotter = ${q(snapshotter)}`,
    '  [plugins."io.containerd.grpc.v1.cri".cni]',
    `    conf_dir = ${q(join(base, 'cni'))}`,
    '  [plugins."io.containerd.grpc.v1.cri".registry]',
    `    config_path = ${q(p.certsDir)}`,
    '',
  ].join('\n');
}

// overlayfs fails inside some containers (e.g. on an overlay root without privileges); try a real mount.
async function probeSnapshotter(base: string): Promise<'overlayfs' | 'native'> {
  const probe = join(base, 'probe');
  const [lower, upper, work, merged] = ['l', 'u', 'w', 'm'].map((d) => join(probe, d)) as [string, string, string, string];
  try {
    await Promise.all([lower, upper, work, merged].map((d) => mkdir(d, { recursive: true })));
    await execFileAsync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
    await execFileAsync('umount', [merged]);
    return 'overlayfs';
  } catch {
    return 'native';
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}

/** Lazily unmounts every mount at or below `dir`, deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  let info: string;
  try {
    info = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return;
  }
  const points = info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)))
    .map((m) => m.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
  for (const point of points) {
    await execFileAsync('umount', ['-l', point]).catch(() => undefined);
  }
}
