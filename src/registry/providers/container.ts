import { freePort } from '../../util/ports.js';
import bcrypt from 'bcryptjs';
import type { BoundPorts, StartedTestContainer, WaitStrategy } from 'testcontainers';
import { loadTestcontainers } from '../../docker/testcontainers.js';
import { stringify as toYaml } from 'yaml';
import { PullbenchError } from '../../errors.js';
import { registerCleanup } from '../../util/cleanup.js';
import type { OutageKind, RegistryOutage, RegistryProvider, RegistrySpec, StartedRegistry } from '../provider.js';
import { AccessLogStats, countAccessLogLine } from '../stats.js';

export { countAccessLogLine };

export interface ContainerRegistryOptions {
  /** Image to run; anything that behaves like `registry:2` (CNCF distribution). */
  image?: string;
  /**
   * Docker endpoint, e.g. `unix:///tmp/pbdk-x/d.sock`. testcontainers reads
   * DOCKER_HOST once per process, so this is applied only before the first
   * container starts; afterwards a different value is an error.
   */
  dockerHost?: string;
  readyTimeoutMs?: number;
  /**
   * Run on this Docker network (e.g. `kind`) under these aliases instead of
   * host networking; port 5000 is then published on 127.0.0.1 for the host.
   */
  network?: { name: string; aliases: string[] };
}

/** A container registry also says which container serves it (for `docker network connect`). */
export interface StartedContainerRegistry extends StartedRegistry {
  readonly containerId: string;
  /** `http://<alias>:5000` when on a named network. */
  readonly networkUrl?: string;
}

/** Where the image's config expects it; the upstream registry:2 image uses the same path. */
const CONFIG_PATH = '/etc/docker/registry/config.yml';
const HTPASSWD_PATH = '/etc/docker/registry/htpasswd';

/** Everything the container needs, derived from the spec without touching Docker (unit-tested). */
export interface ContainerPlan {
  env: Record<string, string>;
  files: Array<{ content: string; target: string; mode: number }>;
  /** Strings that must never show in logs or errors. */
  secrets: string[];
}

/**
 * Translates a RegistrySpec into environment and files for a distribution
 * container listening on 127.0.0.1:port with host networking. Secrets (proxy
 * password) go into a copied config file, never into the environment, where
 * `docker inspect` would show them.
 */
export function planContainer(spec: RegistrySpec, port: number, listen = `127.0.0.1:${port}`): ContainerPlan {
  const unsupported = [
    spec.auth === 'token' && 'auth: token (distribution needs an external token server)',
    spec.rateLimit && 'rateLimit',
    spec.faults && 'faults',
    spec.storage === 'memory' && 'storage: memory',
    spec.rootDir && 'rootDir (storage lives inside the container)',
  ].filter((x): x is string => typeof x === 'string');
  if (unsupported.length > 0) {
    throw new PullbenchError('INVALID_ARGUMENT', `the container provider does not support: ${unsupported.join(', ')}`, {
      details: { unsupported },
    });
  }
  const env: Record<string, string> = {
    REGISTRY_HTTP_ADDR: listen,
    REGISTRY_STORAGE_DELETE_ENABLED: 'true',
    // A fixed secret per container keeps chunked uploads valid across requests.
    REGISTRY_HTTP_SECRET: `pullbench-${port}-${Date.now()}`,
  };
  const files: ContainerPlan['files'] = [];
  const secrets: string[] = [];
  const users = spec.users ?? [];
  const auth = spec.auth ?? (users.length > 0 ? 'basic' : 'none');
  if (auth === 'basic') {
    if (users.length === 0) throw new PullbenchError('INVALID_ARGUMENT', 'basic auth needs at least one user');
    for (const u of users) {
      if (u.username.includes(':') || u.username.includes('\n')) {
        throw new PullbenchError('INVALID_ARGUMENT', `user name ${JSON.stringify(u.username)} cannot go into an htpasswd file`);
      }
      secrets.push(u.password);
    }
    const htpasswd = users.map((u) => `${u.username}:${bcrypt.hashSync(u.password, 5)}`).join('\n') + '\n';
    files.push({ content: htpasswd, target: HTPASSWD_PATH, mode: 0o600 });
    env.REGISTRY_AUTH = 'htpasswd';
    env.REGISTRY_AUTH_HTPASSWD_REALM = 'pullbench';
    env.REGISTRY_AUTH_HTPASSWD_PATH = HTPASSWD_PATH;
  }
  if (spec.upstream) {
    try {
      new URL(spec.upstream.url);
    } catch {
      throw new PullbenchError('INVALID_ARGUMENT', `invalid upstream URL ${JSON.stringify(spec.upstream.url)}`);
    }
    env.REGISTRY_PROXY_REMOTEURL = spec.upstream.url;
    const creds = spec.upstream.credentials;
    if (creds) {
      secrets.push(creds.password);
      files.push({ content: mirrorConfig(creds.username, creds.password), target: CONFIG_PATH, mode: 0o600 });
    }
  }
  return { env, files, secrets };
}

// The upstream image's config plus the proxy credentials, so the password stays out of `docker inspect`.
function mirrorConfig(username: string, password: string): string {
  return toYaml({
    version: 0.1,
    log: { fields: { service: 'registry' } },
    storage: { cache: { blobdescriptor: 'inmemory' }, filesystem: { rootdirectory: '/var/lib/registry' } },
    http: { addr: ':5000', headers: { 'X-Content-Type-Options': ['nosniff'] } },
    proxy: { username, password },
  });
}

/** Waits for `/v2/` to answer 200 or 401 on the host network (Wait.forHttp needs a mapped port, which host mode has not). */
class RegistryV2Wait implements WaitStrategy {
  private timeoutMs = 60_000;
  private timeoutSet = false;
  constructor(private readonly url: (ports: BoundPorts) => string) {}

  async waitUntilReady(
    container: { inspect(): Promise<{ State: { Running: boolean; ExitCode: number } }> },
    ports: BoundPorts,
  ): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    const url = this.url(ports);
    for (;;) {
      const ok = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2000) }).then(
        async (res) => {
          await res.arrayBuffer();
          return res.status === 200 || res.status === 401;
        },
        () => false,
      );
      if (ok) return;
      const state = (await container.inspect()).State;
      if (!state.Running) throw new Error(`registry container exited (code ${state.ExitCode}) before /v2/ answered`);
      if (Date.now() > deadline) throw new Error(`${url}/v2/ did not answer within ${this.timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  withStartupTimeout(ms: number): this {
    this.timeoutMs = ms;
    this.timeoutSet = true;
    return this;
  }
  isStartupTimeoutSet(): boolean {
    return this.timeoutSet;
  }
  getStartupTimeout(): number {
    return this.timeoutMs;
  }
}

function redactAll(text: string, secrets: string[]): string {
  return secrets.filter((s) => s.length > 0).reduce((acc, s) => acc.split(s).join('***'), text);
}

/**
 * Provider `container`: CNCF distribution (`registry:2` by default) in a
 * container started through testcontainers, with host networking on
 * 127.0.0.1, htpasswd auth, pull-through mode via REGISTRY_PROXY_REMOTEURL,
 * and the container stopped and removed on dispose, failure and Ctrl-C.
 * Stats come from distribution's request log (read as the container writes
 * it, so they can lag by a few milliseconds); upstream fetches of a mirror are
 * not logged and stay at zero. Its
 * proxy sends upstream credentials to bearer-token realms only
 * (registry/proxy/proxyauth.go), so a mirror cannot log in to a Basic-auth upstream.
 */
export function containerRegistry(opts: ContainerRegistryOptions = {}): RegistryProvider {
  const image = opts.image ?? 'registry:2';
  return {
    name: 'container',
    async start(spec: RegistrySpec): Promise<StartedContainerRegistry> {
      const net = opts.network;
      const port = net ? 5000 : (spec.port || (await freePort()));
      // On a network, 5000 is published on a fixed host port, so that a container stopped and started again
      // (a refuse fault) is still where pullbench reaches it: Docker draws a new ephemeral port on each start.
      const hostPort = net ? spec.port || (await freePort()) : port;
      const plan = net ? planContainer(spec, port, '0.0.0.0:5000') : planContainer(spec, port);
      const { GenericContainer, getContainerRuntimeClient } = await loadTestcontainers(opts.dockerHost);
      let container: StartedTestContainer | undefined;
      try {
        const base = new GenericContainer(image)
          .withEnvironment(plan.env)
          .withCopyContentToContainer(plan.files)
          .withLabels({ 'io.pullbench.provider': 'container' })
          .withWaitStrategy(
            new RegistryV2Wait(() => `http://127.0.0.1:${hostPort}`),
          )
          .withStartupTimeout(opts.readyTimeoutMs ?? 60_000);
        const configured = net
          ? base
              .withNetworkMode(net.name)
              .withNetworkAliases(...net.aliases)
              .withExposedPorts({ container: 5000, host: hostPort })
          : base.withNetworkMode('host');
        container = await configured.start();
      } catch (err) {
        throw new PullbenchError(
          'REGISTRY_START_FAILED',
          `registry container from ${image} did not start: ${redactAll((err as Error).message, plan.secrets)}`,
          { details: { image, port } },
        );
      }
      const started = container;
      let logs = await started.logs().catch(async (err: unknown) => {
        await started.stop({ remove: true, removeVolumes: true, timeout: 5000 });
        throw new PullbenchError('REGISTRY_START_FAILED', `cannot follow the registry container's log: ${(err as Error).message}`);
      });
      // An outage in progress (paused, stopped) is ended first: Docker neither stops a paused container nor stops a stopped one cleanly.
      let down: OutageKind | undefined;
      let stopping: Promise<void> | undefined;
      const stop = (): Promise<void> =>
        (stopping ??= (async () => {
          unregister();
          logs.destroy();
          const docker = (await getContainerRuntimeClient()).container.getById(started.getId());
          if (down === 'pause') await docker.unpause().catch(() => undefined);
          if (down === 'stop') await docker.remove({ force: true, v: true }).catch(() => undefined);
          else await started.stop({ remove: true, removeVolumes: true, timeout: 5000 });
        })());
      const unregister = registerCleanup(`registry container ${image} :${port}`, stop);
      let version = `distribution (${image})`;
      try {
        const out = await started.exec(['/bin/registry', '--version']);
        const v = /\s(v?\d+\.\d+\.\d+)/.exec(out.output)?.[1];
        if (out.exitCode === 0 && v) version = `distribution ${v}`;
      } catch {
        /* images whose binary lives elsewhere still work; the version stays generic */
      }
      const url = `http://127.0.0.1:${hostPort}`;
      const counted = new AccessLogStats(url, spec.upstream !== undefined, spec.users?.[0]);
      let partial = '';
      const follow = (stream: typeof logs): void => {
        stream.on('data', (chunk: Buffer | string) => {
          const lines = (partial + chunk.toString()).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) counted.line(line);
        });
        stream.on('error', () => undefined);
      };
      follow(logs);
      let stoppedAt = 0;
      // docker pause / unpause, docker stop / start (storage and counters kept: the log is followed again from the start).
      const outage: RegistryOutage = {
        async begin(kind) {
          const docker = (await getContainerRuntimeClient()).container.getById(started.getId());
          if (kind === 'pause') await docker.pause();
          else {
            await docker.stop({ t: 5 });
            stoppedAt = Date.now();
          }
          down = kind;
        },
        async end(kind) {
          const docker = (await getContainerRuntimeClient()).container.getById(started.getId());
          if (kind === 'pause') await docker.unpause();
          else {
            // The log is read again from the second after the stop (Docker's `since` counts whole seconds): no line twice.
            const since = Math.ceil(stoppedAt / 1000);
            await new Promise((r) => setTimeout(r, Math.max(0, since * 1000 - Date.now())));
            await docker.start();
            logs = await started.logs({ since });
            partial = '';
            follow(logs);
            await untilAnswering(url, opts.readyTimeoutMs ?? 60_000);
          }
          down = undefined;
        },
      };
      return {
        outage,
        url,
        host: `127.0.0.1:${hostPort}`,
        containerId: started.getId(),
        ...(net ? { networkUrl: `http://${net.aliases[0] ?? started.getName().replace(/^\//, '')}:5000` } : {}),
        stats: () => counted.stats(),
        statsCaughtUp: () => counted.caughtUp(),
        resetStats: () => counted.reset(),
        version: () => version,
        [Symbol.asyncDispose]: stop,
      };
    },
  };
}

// After a start: /v2/ answers 200 or 401 again (a refused or reset connection is the registry still starting).
async function untilAnswering(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2000) }).then(
      async (res) => {
        await res.arrayBuffer();
        return res.status;
      },
      () => 0,
    );
    if (status === 200 || status === 401) return;
    if (Date.now() > deadline) throw new PullbenchError('REGISTRY_START_FAILED', `${url}/v2/ did not answer within ${timeoutMs} ms of the container's start`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
