import { createServer, type Server } from 'node:http';
import { registerLocalServer } from '../net/local-servers.js';
import type { AddressInfo } from 'node:net';
import { PullbenchError } from '../errors.js';
import { registerCleanup } from '../util/cleanup.js';
import { makeTempDir, type TempDir } from '../util/temp.js';
import { RegistryApp } from './app.js';
import type { BasicCredentials } from '../oci/credentials.js';
import { Authenticator, type AuthMode } from './auth.js';
import { FilesystemBlobStore, MemoryBlobStore, type BlobStore } from './blob-store.js';
import { manifestRecord, parseManifest } from './manifest-validation.js';
import { RepositoryIndex } from './repositories.js';
import { PullRateLimiter, type RegistryStats } from './stats.js';

/** Pending connections the kernel queues for us (capped by net.core.somaxconn, 4096 by default since Linux 5.4). */
export const LISTEN_BACKLOG = 4096;

/** Options of the embedded registry server. */
export interface RegistryServerOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number | undefined;
  storage?: 'memory' | 'filesystem' | undefined;
  /** Filesystem storage root; a temp dir (removed on close) when absent. */
  rootDir?: string | undefined;
  auth?: AuthMode | undefined;
  users?: Array<BasicCredentials | { username: string; bcryptHash: string }> | undefined;
  anonymousPull?: boolean;
  rateLimit?: { manifestGets: number; windowMs: number } | undefined;
  faults?: { errorRate?: number | undefined; latencyMs?: number | undefined } | undefined;
  /** Default 4 MiB, as distribution. */
  maxManifestBytes?: number;
  /** Default 64 GiB. */
  maxBlobBytes?: number;
  tokenTtlSeconds?: number;
  /** Pull-through mirror of this upstream registry. */
  upstream?: { url: string; credentials?: BasicCredentials | undefined };
}

/** A listening embedded registry. */
export interface RunningRegistryServer extends AsyncDisposable {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly rootDir?: string | undefined;
  stats(): RegistryStats;
  resetStats(): void;
  close(): Promise<void>;
}

const MAX_HEADER_BYTES = 16 * 1024;

/** Starts the embedded OCI registry on node:http, in this process. */
export async function startRegistryServer(opts: RegistryServerOptions = {}): Promise<RunningRegistryServer> {
  const mode = opts.auth ?? 'none';
  if (mode !== 'none' && (opts.users ?? []).length === 0 && !opts.anonymousPull) {
    throw new PullbenchError('INVALID_ARGUMENT', `auth ${mode} needs at least one user (or anonymous pull)`);
  }
  const { rateLimit, faults } = opts;
  if (rateLimit && (!(rateLimit.manifestGets > 0) || !(rateLimit.windowMs > 0))) {
    throw new PullbenchError('INVALID_ARGUMENT', 'rate limit needs a positive count and window');
  }
  if (faults?.errorRate !== undefined && !(faults.errorRate >= 0 && faults.errorRate <= 1)) {
    throw new PullbenchError('INVALID_ARGUMENT', 'error rate must be between 0 and 1');
  }

  let temp: TempDir | undefined;
  let store: BlobStore;
  let index: RepositoryIndex;
  let rootDir: string | undefined;
  if ((opts.storage ?? 'filesystem') === 'filesystem') {
    if (!opts.rootDir) temp = await makeTempDir('pullbench-registry-');
    rootDir = opts.rootDir ?? temp!.path;
    store = new FilesystemBlobStore(rootDir);
    index = new RepositoryIndex(rootDir);
  } else {
    store = new MemoryBlobStore();
    index = new RepositoryIndex();
  }
  try {
    await store.open();
    await index.load(async (digest, mediaType) => {
      if (store.size(digest) === undefined) return undefined;
      const bytes = await store.readAll(digest);
      return manifestRecord(digest, bytes, parseManifest(bytes, mediaType));
    });
  } catch (err) {
    await temp?.remove();
    throw new PullbenchError('REGISTRY_START_FAILED', `cannot open registry storage at ${rootDir}`, { cause: err });
  }

  const app = new RegistryApp({
    store,
    index,
    auth: new Authenticator({ mode, users: opts.users ?? [], anonymousPull: opts.anonymousPull, tokenTtlSeconds: opts.tokenTtlSeconds }),
    rateLimiter: rateLimit ? new PullRateLimiter(rateLimit.manifestGets, rateLimit.windowMs) : undefined,
    faults,
    maxManifestBytes: opts.maxManifestBytes ?? 4 * 1024 * 1024,
    maxBlobBytes: opts.maxBlobBytes ?? 64 * 1024 ** 3,
  });

  if (opts.upstream) {
    const { createPullThrough } = await import('./mirror.js');
    try {
      app.setPullThrough(createPullThrough({ upstream: opts.upstream, store, index, counters: app }));
    } catch (err) {
      await temp?.remove();
      throw err;
    }
  }

  const server: Server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, keepAliveTimeout: 30_000 }, app.handle);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    else socket.destroy();
  });
  const host = opts.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // A rollout of hundreds of nodes connects all at once: Node's default backlog (511)
      // made the kernel drop SYNs, and pulls then timed TCP's retry delay, not the registry.
      server.listen({ port: opts.port ?? 0, host, backlog: LISTEN_BACKLOG }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await temp?.remove();
    throw new PullbenchError('REGISTRY_START_FAILED', `cannot listen on ${host}:${opts.port ?? 0}`, { cause: err });
  }
  const port = (server.address() as AddressInfo).port;
  const hostPort = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const url = `http://${hostPort}`;
  app.baseUrl = url;
  // Shaped proxies of this thread in front of it hand it their connections instead of relaying them (net/proxy.ts).
  const unregisterLocal = registerLocalServer(hostPort, server);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      unregister();
      unregisterLocal();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await app.close();
      await temp?.remove();
    })();
    return closing;
  };
  const unregister = registerCleanup(`registry ${url}`, close, { endsWithProcess: true });
  return {
    url,
    host: hostPort,
    port,
    rootDir,
    stats: () => app.getStats(),
    resetStats: () => app.resetStats(),
    close,
    [Symbol.asyncDispose]: close,
  };
}
