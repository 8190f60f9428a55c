import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import { stringify as toYaml } from 'yaml';
import { PullbenchError } from '../errors.js';
import { pullbenchVersion } from '../util/environment.js';
import { startProcess } from '../util/process.js';
import { makeTempDir } from '../util/temp.js';
import { findTool } from '../util/tools.js';
import type { BasicCredentials } from '../oci/credentials.js';
import { freePort } from '../util/ports.js';
import { startRegistryServer, type RegistryServerOptions } from './server.js';
import { AccessLogStats, emptyStats, type RegistryStats } from './stats.js';

export type { RegistryStats } from './stats.js';

/** A running registry, whichever technology serves it. */
export interface StartedRegistry extends AsyncDisposable {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT (for image references) */
  readonly host: string;
  /** Since start (or since resetStats()). */
  stats(): RegistryStats;
  /**
   * Resolves once every response sent so far is in stats(), for registries
   * counted from their log, which lags their responses; absent where counts
   * are taken as responses are sent.
   */
  statsCaughtUp?(): Promise<void>;
  resetStats(): void;
  /** e.g. "pullbench-embedded 0.1.0", "distribution 2.8.2" */
  version(): string;
  /**
   * Takes the server away and gives it back where its technology allows (a container: stopped or paused);
   * absent where it cannot (embedded, distribution, external).
   */
  readonly outage?: RegistryOutage;
}

/** How a server is taken away: `stop` (gone: connections refused), `pause` (frozen: requests hang until it thaws). */
export type OutageKind = 'stop' | 'pause';

/** A registry's server taken away for a while, and given back with what it stored. */
export interface RegistryOutage {
  begin(kind: OutageKind): Promise<void>;
  /** Resolves once the server answers again. */
  end(kind: OutageKind): Promise<void>;
}

/** What to start. Providers that cannot honour a field say so with INVALID_ARGUMENT. */
export interface RegistrySpec {
  port?: number;
  storage?: 'memory' | 'filesystem';
  rootDir?: string;
  users?: BasicCredentials[];
  auth?: 'none' | 'basic' | 'token';
  upstream?: { url: string; credentials?: BasicCredentials | undefined };
  rateLimit?: { manifestGets: number; windowMs: number } | undefined;
  faults?: { errorRate?: number | undefined; latencyMs?: number | undefined } | undefined;
}

export interface RegistryProvider {
  readonly name: string;
  start(spec: RegistrySpec): Promise<StartedRegistry>;
}

/** The in-process registry of src/registry/server.ts. */
export const embeddedRegistry: RegistryProvider = {
  name: 'embedded',
  async start(spec) {
    const options: RegistryServerOptions = {
      port: spec.port,
      storage: spec.storage,
      rootDir: spec.rootDir,
      users: spec.users,
      auth: spec.auth,
      rateLimit: spec.rateLimit,
      faults: spec.faults,
      ...(spec.upstream ? { upstream: spec.upstream } : {}),
    };
    const server = await startRegistryServer(options);
    const version = `pullbench-embedded ${pullbenchVersion()}`;
    return {
      url: server.url,
      host: server.host,
      stats: () => server.stats(),
      resetStats: () => server.resetStats(),
      version: () => version,
      [Symbol.asyncDispose]: () => server.close(),
    };
  },
};

const execFileAsync = promisify(execFile);

/**
 * Debian's `docker-registry` (CNCF distribution 2.8) as a child process with a
 * generated config.yml: filesystem storage in a temp dir, htpasswd (bcrypt)
 * auth when users are given, `proxy.remoteurl` for mirror mode. It has no
 * request counters of its own: stats() counts the `response completed` lines
 * of its log (info level, its default). Upstream fetches of a proxy are not
 * logged, so those stay zero. Lines are read as the process writes them, so
 * counts can lag a response by a few milliseconds. It supports neither token auth (it needs an
 * external token server), rate limits nor faults.
 */
export const distributionRegistry: RegistryProvider = {
  name: 'distribution',
  async start(spec) {
    const binary = findTool('docker-registry');
    if (!binary) throw new PullbenchError('TOOL_MISSING', 'docker-registry is not installed (apt-get install docker-registry)');
    if (spec.auth === 'token' || spec.rateLimit || spec.faults || spec.storage === 'memory') {
      throw new PullbenchError('INVALID_ARGUMENT', 'the distribution provider supports filesystem storage and none/basic auth only');
    }
    const dir = await makeTempDir('pullbench-distribution-');
    try {
      // Port 0 means any free port, as for the embedded registry.
      const port = spec.port || (await freePort());
      const config: Record<string, unknown> = {
        version: 0.1,
        log: { level: 'info', accesslog: { disabled: true } },
        storage: { filesystem: { rootdirectory: spec.rootDir ?? join(dir.path, 'data') }, delete: { enabled: true } },
        http: { addr: `127.0.0.1:${port}`, secret: randomBytes(16).toString('hex') },
      };
      const users = spec.users ?? [];
      if ((spec.auth ?? (users.length > 0 ? 'basic' : 'none')) === 'basic') {
        if (users.length === 0) throw new PullbenchError('INVALID_ARGUMENT', 'basic auth needs at least one user');
        const htpasswd = join(dir.path, 'htpasswd');
        await writeFile(htpasswd, users.map((u) => `${u.username}:${bcrypt.hashSync(u.password, 5)}`).join('\n') + '\n', { mode: 0o600 });
        config.auth = { htpasswd: { realm: 'pullbench', path: htpasswd } };
      }
      const redact: string[] = [];
      if (spec.upstream) {
        const proxy: Record<string, string> = { remoteurl: spec.upstream.url };
        if (spec.upstream.credentials) {
          proxy.username = spec.upstream.credentials.username;
          proxy.password = spec.upstream.credentials.password;
          redact.push(spec.upstream.credentials.password);
        }
        config.proxy = proxy;
      }
      const configPath = join(dir.path, 'config.yml');
      await writeFile(configPath, toYaml(config), { mode: 0o600 });
      const url = `http://127.0.0.1:${port}`;
      const counted = new AccessLogStats(url, spec.upstream !== undefined, users[0]);
      const proc = await startProcess({
        onLine: (line) => counted.line(line),
        label: `docker-registry :${port}`,
        command: binary,
        args: ['serve', configPath],
        redact,
        ready: async () => {
          const res = await fetch(`${url}/v2/`);
          await res.arrayBuffer();
          return res.status === 200 || res.status === 401;
        },
      });
      const { stdout } = await execFileAsync(binary, ['--version']);
      const version = `distribution ${/\s(v?\d+\.\d+\.\d+)/.exec(stdout)?.[1] ?? stdout.trim()}`;
      return {
        url,
        host: `127.0.0.1:${port}`,
        stats: () => counted.stats(),
        statsCaughtUp: () => counted.caughtUp(),
        resetStats: () => counted.reset(),
        version: () => version,
        [Symbol.asyncDispose]: async () => {
          await proc.stop();
          await dir.remove();
        },
      };
    } catch (err) {
      await dir.remove();
      throw err;
    }
  },
};

/** A registry someone else runs, by URL; only `upstream`-free specs make sense. */
function externalRegistry(url: string): RegistryProvider {
  return {
    name: 'external',
    async start() {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new PullbenchError('INVALID_ARGUMENT', `invalid registry URL ${JSON.stringify(url)}`);
      }
      const base = `${parsed.protocol}//${parsed.host}`;
      let stats = emptyStats(false);
      return {
        url: base,
        host: parsed.host,
        stats: () => ({ ...stats }),
        resetStats: () => {
          stats = emptyStats(false);
        },
        version: () => `external ${parsed.host}`,
        [Symbol.asyncDispose]: async () => undefined,
      };
    },
  };
}

/** Providers by name, for scenario files and flags. */
export function registryProvider(name: string, url?: string): RegistryProvider {
  if (name === 'embedded') return embeddedRegistry;
  if (name === 'distribution') return distributionRegistry;
  if (name === 'external') {
    if (!url) throw new PullbenchError('INVALID_ARGUMENT', 'the external registry provider needs a URL');
    return externalRegistry(url);
  }
  throw new PullbenchError('INVALID_ARGUMENT', `unknown registry provider ${JSON.stringify(name)} (embedded, distribution, external)`);
}
