import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestOf, parseDigest } from '../oci/digest.js';
import { MediaType, type ImageIndex } from '../oci/media-types.js';
import { isPullbenchError } from '../errors.js';
import { accepts, JSON_TYPE, paginate, parseRange, readBody, sendBody, sendPage, unsupported } from './api-http.js';
import { parseScopes, type Authenticator, type Principal } from './auth.js';
import type { BlobStore, ByteRange } from './blob-store.js';
import { RegistryHttpError, sendError } from './http-error.js';
import { manifestRecord, parseManifest } from './manifest-validation.js';
import type { Repository, RepositoryIndex } from './repositories.js';
import { isRepositoryName, parseRoute, type Route } from './routes.js';
import { emptyStats, toOpenMetrics, type PullRateLimiter, type RegistryStats } from './stats.js';
import { Uploads } from './uploads.js';

/** A blob the mirror can serve, possibly while it is still arriving from upstream. */
export interface BlobSource {
  size: number;
  open(range?: ByteRange): Readable;
  /** The whole blob when it is in memory. */
  cached?(): Buffer | undefined;
}

/** Pull-through hooks (mirror mode): bring the local index up to date before serving. */
export interface PullThrough {
  manifest(repo: Repository, reference: string, isDigest: boolean): Promise<void>;
  blob(repo: Repository, digest: string): Promise<BlobSource | undefined>;
  close(): Promise<void>;
}

export interface AppOptions {
  store: BlobStore;
  index: RepositoryIndex;
  auth: Authenticator;
  rateLimiter?: PullRateLimiter | undefined;
  faults?: { errorRate?: number | undefined; latencyMs?: number | undefined } | undefined;
  maxManifestBytes: number;
  maxBlobBytes: number;
  random?: () => number;
}

const API_VERSION = 'registry/2.0';

/** The registry's HTTP behaviour, independent of the listening socket. */
export class RegistryApp {
  private stats: RegistryStats;
  private readonly uploads: Uploads;
  /** Set by the server once listening: base of the token realm. */
  baseUrl = '';

  private pullThrough: PullThrough | undefined;

  constructor(private readonly opts: AppOptions) {
    this.stats = emptyStats(false);
    this.uploads = new Uploads(opts);
  }

  /** Cancels uploads not touched since `before` (ms since epoch). */
  sweepUploads(before: number): void {
    this.uploads.sweep(before);
  }

  /** Turns on mirror mode (before the server listens). */
  setPullThrough(pullThrough: PullThrough): void {
    this.pullThrough = pullThrough;
    this.stats = emptyStats(true);
  }

  getStats(): RegistryStats {
    return { ...this.stats };
  }

  resetStats(): void {
    this.stats = emptyStats(this.pullThrough !== undefined);
  }

  /** Mirror mode counts its upstream traffic here. */
  countUpstream(kind: 'manifest' | 'blob', bytes = 0): void {
    if (kind === 'manifest') this.stats.upstreamManifestGet = (this.stats.upstreamManifestGet ?? 0) + 1;
    else this.stats.upstreamBlobGet = (this.stats.upstreamBlobGet ?? 0) + 1;
    this.stats.upstreamBytes = (this.stats.upstreamBytes ?? 0) + bytes;
  }

  countUpstreamBytes(bytes: number): void {
    this.stats.upstreamBytes = (this.stats.upstreamBytes ?? 0) + bytes;
  }

  async close(): Promise<void> {
    try {
      await this.pullThrough?.close();
    } finally {
      await this.uploads.close();
    }
  }

  /** Entry point for node:http; never throws. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.dispatch(req, res).catch((err: unknown) => {
      const httpErr =
        err instanceof RegistryHttpError
          ? err
          : isPullbenchError(err, 'INVALID_DIGEST')
            ? new RegistryHttpError('DIGEST_INVALID', 'invalid digest')
            : new RegistryHttpError('UNKNOWN', 'internal error');
      if (!req.complete) res.setHeader('Connection', 'close');
      sendError(res, httpErr, req.method === 'HEAD');
    });
  };

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const method = req.method ?? 'GET';
    res.setHeader('Docker-Distribution-API-Version', API_VERSION);
    const route = parseRoute(path);

    if (route.kind === 'metrics') {
      if (method !== 'GET') throw unsupported();
      return sendBody(res, 200, 'application/openmetrics-text; version=1.0.0; charset=utf-8', Buffer.from(toOpenMetrics(this.stats)));
    }
    this.count(route, method);
    if (route.kind === 'token') return this.token(req, res, method, query);

    const { faults } = this.opts;
    if (faults?.latencyMs) await new Promise((r) => setTimeout(r, faults.latencyMs));
    if (faults?.errorRate && (this.opts.random ?? Math.random)() < faults.errorRate) {
      throw new RegistryHttpError('UNAVAILABLE', 'injected fault: service unavailable');
    }

    const principal = this.authenticate(req);
    this.authorize(route, method, principal);

    switch (route.kind) {
      case 'base':
        if (method !== 'GET' && method !== 'HEAD') throw unsupported();
        return sendBody(res, 200, JSON_TYPE, Buffer.from('{}'), method === 'HEAD');
      case 'catalog':
        if (method !== 'GET') throw unsupported();
        return this.catalog(res, query);
      case 'manifest':
        if (method === 'GET' || method === 'HEAD') return this.getManifest(req, res, route, method === 'HEAD');
        if (method === 'PUT') return this.putManifest(req, res, route);
        if (method === 'DELETE') return this.deleteManifest(res, route);
        throw unsupported();
      case 'blob':
        if (method === 'GET' || method === 'HEAD') return this.getBlob(req, res, route, method === 'HEAD');
        if (method === 'DELETE') return this.deleteBlob(res, route);
        throw unsupported();
      case 'uploads':
        if (method !== 'POST') throw unsupported();
        return this.uploads.start(req, res, route.name, query, principal);
      case 'upload':
        return this.uploads.continue(req, res, route, method, query);
      case 'tags':
        if (method !== 'GET') throw unsupported();
        return this.tags(res, route.name, query);
      case 'referrers':
        if (method !== 'GET') throw unsupported();
        return this.referrers(res, route.name, route.digest, query);
    }
  }

  private count(route: Route, method: string): void {
    const s = this.stats;
    if (route.kind === 'manifest') {
      if (method === 'HEAD') s.manifestHead++;
      else if (method === 'GET') s.manifestGet++;
    } else if (route.kind === 'blob') {
      if (method === 'HEAD') s.blobHead++;
      else if (method === 'GET') s.blobGet++;
    } else if (route.kind === 'token') s.token++;
    else if (route.kind === 'uploads' || route.kind === 'upload') s.upload++;
  }

  // ---- auth ----

  private authenticate(req: IncomingMessage): Principal {
    const { auth } = this.opts;
    if (auth.mode === 'none') return {};
    const header = req.headers.authorization;
    if (auth.mode === 'basic') return auth.basicPrincipal(header) ?? {};
    if (header?.startsWith('Basic ')) {
      throw new RegistryHttpError('UNAUTHORIZED', 'authentication required: use a bearer token', {
        headers: { 'WWW-Authenticate': auth.challenge(this.baseUrl) },
      });
    }
    return auth.tokenPrincipal(header) ?? {};
  }

  private authorize(route: Route, method: string, principal: Principal): void {
    const { auth } = this.opts;
    if (auth.mode === 'none') return;
    const read = method === 'GET' || method === 'HEAD';
    let scope: string | undefined;
    let ok: boolean;
    if (route.kind === 'base') {
      ok = principal.username !== undefined || principal.access !== undefined;
    } else if (route.kind === 'catalog') {
      scope = 'registry:catalog:*';
      ok = auth.allowed(principal, 'registry', 'catalog', '*');
    } else if (route.kind === 'token' || route.kind === 'metrics') {
      ok = true;
    } else {
      const action = method === 'DELETE' && route.kind !== 'upload' ? 'delete' : read && route.kind !== 'upload' ? 'pull' : 'push';
      scope = `repository:${route.name}:${action === 'pull' ? 'pull' : action === 'push' ? 'pull,push' : action}`;
      ok = auth.allowed(principal, 'repository', route.name, action);
    }
    if (!ok) {
      const anonymous = principal.username === undefined && principal.access === undefined;
      throw new RegistryHttpError(anonymous ? 'UNAUTHORIZED' : 'UNAUTHORIZED', anonymous ? 'authentication required' : 'insufficient scope', {
        headers: {
          'WWW-Authenticate': auth.challenge(this.baseUrl, scope) + (anonymous || auth.mode === 'basic' ? '' : ',error="insufficient_scope"'),
        },
      });
    }
  }

  private async token(req: IncomingMessage, res: ServerResponse, method: string, query: URLSearchParams): Promise<void> {
    const { auth } = this.opts;
    if (auth.mode !== 'token') throw new RegistryHttpError('UNSUPPORTED', 'token auth is not enabled', { status: 404 });
    let principal: Principal;
    let scopes: string[];
    if (method === 'GET') {
      principal = auth.basicPrincipal(req.headers.authorization) ?? {};
      scopes = query.getAll('scope');
    } else if (method === 'POST') {
      // OAuth2 password grant, as containerd sends when it has credentials.
      const form = new URLSearchParams((await readBody(req, 64 * 1024)).toString('utf8'));
      scopes = form.getAll('scope');
      const username = form.get('username');
      const password = form.get('password');
      if (form.get('grant_type') !== 'password' || username === null || password === null) {
        throw new RegistryHttpError('UNSUPPORTED', 'only grant_type=password is supported', { status: 400 });
      }
      if (!auth.checkPassword(username, password)) throw new RegistryHttpError('UNAUTHORIZED', 'invalid username or password');
      principal = { username };
    } else {
      throw unsupported();
    }
    const service = method === 'GET' ? query.get('service') : null;
    if (service !== null && service !== auth.service) {
      throw new RegistryHttpError('DENIED', 'unknown service', { status: 400, detail: { service } });
    }
    const requested = parseScopes(scopes).filter((s) => s.type === 'registry' || isRepositoryName(s.name));
    if (principal.username === undefined && !requested.some((r) => auth.grant(principal, [r]).length > 0) && requested.length > 0) {
      throw new RegistryHttpError('UNAUTHORIZED', 'authentication required', {
        headers: { 'WWW-Authenticate': 'Basic realm="pullbench-registry"' },
      });
    }
    const issued = auth.issueToken(principal, requested);
    sendBody(res, 200, JSON_TYPE, Buffer.from(JSON.stringify(issued)));
  }

  // ---- manifests ----

  private async getManifest(req: IncomingMessage, res: ServerResponse, route: Extract<Route, { kind: 'manifest' }>, head: boolean): Promise<void> {
    const { index, rateLimiter } = this.opts;
    const { pullThrough } = this;
    if (pullThrough) await pullThrough.manifest(index.getOrCreate(route.name), route.reference, route.isDigest);
    const repo = index.get(route.name);
    if (!repo || repo.isEmpty()) throw new RegistryHttpError('NAME_UNKNOWN', 'repository name not known to registry', { detail: { name: route.name } });
    const digest = route.isDigest ? route.reference : repo.tags.get(route.reference);
    const record = digest === undefined ? undefined : repo.manifests.get(digest);
    if (!record) throw new RegistryHttpError('MANIFEST_UNKNOWN', 'manifest unknown', { detail: { reference: route.reference } });
    if (!accepts(req.headers.accept, record.mediaType)) {
      throw new RegistryHttpError('MANIFEST_UNKNOWN', `manifest is ${record.mediaType}, which the Accept header excludes`, {
        detail: { mediaType: record.mediaType },
      });
    }
    if (rateLimiter) {
      const client = req.socket.remoteAddress ?? 'unknown';
      const remaining = head ? rateLimiter.remaining(client) : rateLimiter.take(client);
      const headers = rateLimiter.headers(remaining);
      if (remaining < 0) {
        this.stats.tooManyRequests++;
        throw new RegistryHttpError('TOOMANYREQUESTS', 'pull rate limit exceeded', {
          headers: { ...headers, 'Retry-After': String(Math.ceil(rateLimiter.windowMs / 1000)) },
        });
      }
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    }
    res.writeHead(200, {
      'Content-Type': record.mediaType,
      'Content-Length': record.bytes.length,
      'Docker-Content-Digest': record.digest,
      ETag: `"${record.digest}"`,
    });
    if (head) {
      res.end();
      return;
    }
    this.stats.bytesServed += record.bytes.length;
    res.end(record.bytes);
  }

  private async putManifest(req: IncomingMessage, res: ServerResponse, route: Extract<Route, { kind: 'manifest' }>): Promise<void> {
    const { index, store, maxManifestBytes } = this.opts;
    const bytes = await readBody(req, maxManifestBytes);
    const parsed = parseManifest(bytes, req.headers['content-type']);
    const algorithm = route.isDigest ? parseDigest(route.reference).algorithm : 'sha256';
    const digest = digestOf(bytes, algorithm);
    if (route.isDigest && digest !== route.reference) {
      throw new RegistryHttpError('DIGEST_INVALID', 'manifest digest does not match the reference', {
        detail: { reference: route.reference, actual: digest },
      });
    }
    const repo = index.get(route.name);
    const missing: string[] = [];
    for (const b of parsed.blobs) {
      if (!repo?.blobs.has(b.digest)) missing.push(b.digest);
      else if (store.size(b.digest) !== b.size) {
        throw new RegistryHttpError('MANIFEST_INVALID', 'descriptor size does not match the blob', { detail: { digest: b.digest } });
      }
    }
    for (const c of parsed.children) if (!repo?.manifests.has(c.digest)) missing.push(c.digest);
    if (missing.length > 0) {
      throw new RegistryHttpError('MANIFEST_BLOB_UNKNOWN', 'manifest references unknown blobs or manifests', { detail: { missing } });
    }
    await store.put(digest, bytes);
    const target = index.getOrCreate(route.name);
    target.addManifest(manifestRecord(digest, bytes, parsed));
    if (!route.isDigest) target.tags.set(route.reference, digest);
    await index.save(target);
    const headers: Record<string, string> = {
      Location: `/v2/${route.name}/manifests/${digest}`,
      'Docker-Content-Digest': digest,
      'Content-Length': '0',
    };
    if (parsed.subject) headers['OCI-Subject'] = parsed.subject.digest;
    res.writeHead(201, headers);
    res.end();
  }

  private async deleteManifest(res: ServerResponse, route: Extract<Route, { kind: 'manifest' }>): Promise<void> {
    const { index } = this.opts;
    const repo = index.get(route.name);
    if (!repo) throw new RegistryHttpError('NAME_UNKNOWN', 'repository name not known to registry');
    if (route.isDigest) {
      if (!repo.removeManifest(route.reference)) throw new RegistryHttpError('MANIFEST_UNKNOWN', 'manifest unknown');
    } else if (!repo.tags.delete(route.reference)) {
      throw new RegistryHttpError('MANIFEST_UNKNOWN', 'tag unknown');
    }
    await index.save(repo);
    res.writeHead(202, { 'Content-Length': '0' });
    res.end();
  }

  // ---- blobs ----

  private async getBlob(req: IncomingMessage, res: ServerResponse, route: Extract<Route, { kind: 'blob' }>, head: boolean): Promise<void> {
    const { index, store } = this.opts;
    const { pullThrough } = this;
    const repo = index.get(route.name);
    let source: BlobSource | undefined;
    if (repo && (repo.blobs.has(route.digest) || repo.manifests.has(route.digest))) {
      const size = store.size(route.digest);
      if (size !== undefined) source = { size, open: (range) => store.read(route.digest, range), cached: () => store.cached(route.digest) };
    }
    if (!source && pullThrough) source = await pullThrough.blob(index.getOrCreate(route.name), route.digest);
    if (!source) throw new RegistryHttpError('BLOB_UNKNOWN', 'blob unknown to registry', { detail: { digest: route.digest } });
    const range = parseRange(req.headers.range, source.size);
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': route.digest,
      'Accept-Ranges': 'bytes',
      ETag: `"${route.digest}"`,
      'Cache-Control': 'max-age=31536000',
    };
    let status = 200;
    let length = source.size;
    if (range) {
      status = 206;
      length = range.end - range.start + 1;
      headers['Content-Range'] = `bytes ${range.start}-${range.end}/${source.size}`;
    }
    headers['Content-Length'] = length;
    res.writeHead(status, headers);
    if (head) {
      res.end();
      return;
    }
    res.once('finish', () => {
      this.stats.bytesServed += length;
    });
    const inMemory = source.cached?.();
    if (inMemory) {
      res.end(range ? inMemory.subarray(range.start, range.end + 1) : inMemory);
      return;
    }
    await pipeline(source.open(range), res);
  }

  private async deleteBlob(res: ServerResponse, route: Extract<Route, { kind: 'blob' }>): Promise<void> {
    const { index, store } = this.opts;
    const repo = index.get(route.name);
    if (!repo?.blobs.delete(route.digest)) throw new RegistryHttpError('BLOB_UNKNOWN', 'blob unknown to registry');
    await index.save(repo);
    let referenced = false;
    for (const r of index.all()) if (r.blobs.has(route.digest) || r.manifests.has(route.digest)) referenced = true;
    if (!referenced) await store.delete(route.digest);
    res.writeHead(202, { 'Content-Length': '0' });
    res.end();
  }

  // ---- listings ----

  private tags(res: ServerResponse, name: string, query: URLSearchParams): void {
    const repo = this.opts.index.get(name);
    if (!repo || repo.isEmpty()) throw new RegistryHttpError('NAME_UNKNOWN', 'repository name not known to registry');
    const page = paginate([...repo.tags.keys()].sort(), query, `/v2/${name}/tags/list`);
    sendPage(res, { name, tags: page.items }, page.link);
  }

  private catalog(res: ServerResponse, query: URLSearchParams): void {
    const page = paginate(this.opts.index.names(), query, '/v2/_catalog');
    sendPage(res, { repositories: page.items }, page.link);
  }

  private referrers(res: ServerResponse, name: string, digest: string, query: URLSearchParams): void {
    const repo = this.opts.index.get(name);
    const artifactType = query.get('artifactType');
    let manifests = [...(repo?.referrers.get(digest)?.values() ?? [])];
    const headers: Record<string, string> = {};
    if (artifactType !== null) {
      manifests = manifests.filter((m) => m.artifactType === artifactType);
      headers['OCI-Filters-Applied'] = 'artifactType';
    }
    const body: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    sendBody(res, 200, MediaType.OciIndex, Buffer.from(JSON.stringify(body)));
  }
}
