import { Readable } from 'node:stream';
import { PullbenchError } from '../errors.js';
import { HttpPool, fetchTransport, type HttpRequest, type HttpResponse, type HttpTransport } from '../net/http-pool.js';
import type { BasicCredentials } from './credentials.js';
import { basicAuthorization, mergeScopes, parseWwwAuthenticate, repositoryScope, tokenFromResponse } from './auth.js';
import { digestOf, isDigest, parseDigest } from './digest.js';
import { MANIFEST_ACCEPT, MediaType, type Descriptor, type ImageIndex } from './media-types.js';
import { Pusher, type PushBlobOptions } from './pusher.js';
import { checkReference } from './reference.js';
import { PULL, pullbenchCause, registryFailure, type RequestSpec } from './request.js';
import { causeText, contentType, drain, MANIFEST_LIMIT, pipeInto, readJson, readLimited } from './response-body.js';
import { VerifyingStream } from './verifying-stream.js';
import { resumingBody, type Reopened } from './resuming-body.js';

export { MONOLITHIC_LIMIT, type PushBlobOptions } from './pusher.js';

export interface ClientOptions {
  /** Scheme + host[:port], no path, e.g. `http://127.0.0.1:41234`. */
  baseUrl: string;
  /** Used for Basic auth, and for the Bearer token request. */
  credentials?: BasicCredentials | undefined;
  /** Injectable (link shaping, tests); its bodies cross WHATWG streams, so it is slower than the default pool. */
  fetch?: typeof fetch | undefined;
  /**
   * Sends the requests (takes precedence over `fetch`); share one `HttpPool` between
   * clients to share connections. Default: a keep-alive pool of the client's own,
   * closed by `close()`.
   */
  transport?: HttpTransport;
  userAgent?: string;
  /**
   * Path the distribution API lives under, default `/v2`. A hosts.toml host with
   * `override_path = true` gives its own (containerd joins it with `<repo>/manifests/...`).
   */
  apiPath?: string;
  /**
   * Sent as `?ns=<namespace>` on every API request, as containerd does when the host is a
   * mirror of another registry (the image's registry host, e.g. `docker.io`).
   */
  namespace?: string;
  /** Extra headers on every request (hosts.toml `[header]`). */
  headers?: Record<string, string>;
  /** Time to wait for response headers (not for a whole blob), default 30 s. */
  timeoutMs?: number | undefined;
}

export interface ManifestResult {
  descriptor: Descriptor;
  bytes: Buffer;
  mediaType: string;
}

export interface BlobResult {
  /** Content-Length of the response, -1 when the registry did not send one. */
  size: number;
  /** Verifies the digest as it streams (whole-blob reads only); errors with DIGEST_MISMATCH. */
  body: Readable;
  /** Set when the transport saved the blob as `saveTo` asked: the verified bytes saved (the body is then empty). */
  saved?: Promise<number>;
}

/**
 * An OCI Distribution client that behaves like containerd's resolver and pusher:
 * anonymous first, then the registry's challenge (Basic, or a Bearer token fetched
 * once per scope and kept for the life of the client); every blob verified as it
 * streams; errors as PullbenchError with `details.status`. Credentials never appear
 * in errors.
 */
export class RegistryClient {
  readonly baseUrl: string;
  private readonly transport: HttpTransport;
  /** The pool the client made for itself (no `fetch` or `transport` given), closed with the client. */
  private readonly ownPool: HttpPool | undefined;
  private readonly credentials: BasicCredentials | undefined;
  private readonly userAgent: string;
  private readonly apiPath: string;
  private readonly namespace: string | undefined;
  private readonly extraHeaders: Record<string, string>;
  private readonly timeoutMs: number;
  /** Authorization header per scope key (Bearer tokens), or for every scope (Basic). */
  private readonly authCache = new Map<string, string>();
  private basicHeader: string | undefined;
  /** The push path, over this client's authorized requests. */
  private readonly pusher: Pusher;

  constructor(opts: ClientOptions) {
    let url: URL;
    try {
      url = new URL(opts.baseUrl);
    } catch (err) {
      throw new PullbenchError('INVALID_ARGUMENT', `invalid registry URL ${JSON.stringify(opts.baseUrl)}`, { cause: err });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new PullbenchError('INVALID_ARGUMENT', `registry URL must be http or https, got ${url.protocol}`);
    }
    if (url.username || url.password) {
      throw new PullbenchError('INVALID_ARGUMENT', 'put registry credentials in the credentials option, not in the URL');
    }
    this.baseUrl = url.origin;
    if (opts.transport) this.transport = opts.transport;
    else if (opts.fetch) this.transport = fetchTransport(opts.fetch);
    else this.transport = this.ownPool = new HttpPool();
    this.credentials = opts.credentials;
    this.userAgent = opts.userAgent ?? 'pullbench';
    this.apiPath = `/${(opts.apiPath ?? '/v2').replace(/^\/+|\/+$/g, '')}`.replace(/^\/$/, '');
    this.namespace = opts.namespace;
    this.extraHeaders = opts.headers ?? {};
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.pusher = new Pusher({ baseUrl: this.baseUrl, send: (spec) => this.send(spec), headBlob: (repo, digest) => this.headBlob(repo, digest) });
  }

  /** Closes the connections of the client's own pool (a given transport or fetch is the caller's to close). */
  async close(): Promise<void> {
    await this.ownPool?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Tag (or digest) -> descriptor, by HEAD; GET when HEAD is refused (405), gives no length, or (for a tag) lacks Docker-Content-Digest. */
  async resolve(repo: string, reference: string, accept: string = MANIFEST_ACCEPT): Promise<Descriptor> {
    checkReference(reference);
    const res = await this.send({
      method: 'HEAD',
      url: `/v2/${repo}/manifests/${reference}`,
      repo,
      actions: PULL,
      headers: { accept },
      what: `manifest ${repo}:${reference}`,
    });
    const digest = res.headers.get('docker-content-digest');
    const length = res.headers.get('content-length');
    // containerd's resolver (remotes/docker/resolver.go Resolve, 1.7-2.1) reads the digest header only for a tag: a
    // digest reference is its own digest, and it GETs the manifest only when the HEAD gave no length.
    if (res.status === 200 && !digest && isDigest(reference) && length !== null) {
      return { mediaType: contentType(res), digest: reference, size: Number(length) };
    }
    if (res.status === 200 && digest && isDigest(digest) && length !== null) {
      if (isDigest(reference) && digest !== reference) {
        throw new PullbenchError('DIGEST_MISMATCH', `registry resolved ${reference} to ${digest}`, { details: { expected: reference, actual: digest } });
      }
      return { mediaType: contentType(res), digest, size: Number(length) };
    }
    if (res.status !== 200 && res.status !== 405) await registryFailure(res, `manifest ${repo}:${reference}`, 'MANIFEST_UNKNOWN');
    return (await this.getManifest(repo, reference, accept)).descriptor;
  }

  /** GET a manifest or index; by digest, the bytes are verified against it. */
  async getManifest(repo: string, reference: string, accept: string = MANIFEST_ACCEPT): Promise<ManifestResult> {
    checkReference(reference);
    const what = `manifest ${repo}:${reference}`;
    const res = await this.send({ method: 'GET', url: `/v2/${repo}/manifests/${reference}`, repo, actions: PULL, headers: { accept }, what });
    if (res.status !== 200) return registryFailure(res, what, 'MANIFEST_UNKNOWN');
    const bytes = await readLimited(res, MANIFEST_LIMIT, what);
    const headerDigest = res.headers.get('docker-content-digest');
    let digest: string;
    if (isDigest(reference)) {
      digest = digestOf(bytes, parseDigest(reference).algorithm);
      if (digest !== reference) {
        throw new PullbenchError('DIGEST_MISMATCH', `${what}: content has digest ${digest}`, { details: { expected: reference, actual: digest } });
      }
    } else {
      digest = digestOf(bytes);
      if (headerDigest && headerDigest.startsWith('sha256:') && headerDigest !== digest) {
        throw new PullbenchError('DIGEST_MISMATCH', `${what}: registry says ${headerDigest}, content has digest ${digest}`, {
          details: { expected: headerDigest, actual: digest },
        });
      }
    }
    const mediaType = contentType(res, bytes);
    return { descriptor: { mediaType, digest, size: bytes.length }, bytes, mediaType };
  }

  /** The blob's descriptor when the registry has it, else undefined. */
  async headBlob(repo: string, digest: string): Promise<Descriptor | undefined> {
    parseDigest(digest);
    const what = `blob ${repo}@${digest}`;
    const res = await this.send({ method: 'HEAD', url: `/v2/${repo}/blobs/${digest}`, repo, actions: PULL, what });
    if (res.status === 404) return undefined;
    if (res.status !== 200) return registryFailure(res, what, 'BLOB_UNKNOWN');
    return { mediaType: 'application/octet-stream', digest, size: Number(res.headers.get('content-length') ?? -1) };
  }

  /**
   * Streams a blob. A whole-blob read is verified as it streams (DIGEST_MISMATCH,
   * SIZE_MISMATCH at the end); a range read (206) cannot be and is not. A registry that
   * ignores Range answers 200 with the whole blob, which is verified (check `size`).
   * `saveTo` (whole blobs only) lets a transport that can save the verified blob
   * to a file itself (`HttpRequest.saveTo`); the result's `saved` says it did. `resume`: a whole-blob body
   * whose connection ends before its length is asked for again from the byte it stopped at, as containerd's
   * fetcher does (resumingBody); the digest is still checked over the whole blob.
   */
  async getBlob(
    repo: string,
    digest: string,
    opts: { range?: { start: number; end?: number }; saveTo?: { partial: string; path: string }; resume?: boolean } = {},
  ): Promise<BlobResult> {
    parseDigest(digest);
    const what = `blob ${repo}@${digest}`;
    const headers: Record<string, string> = {};
    if (opts.range) headers.range = `bytes=${opts.range.start}-${opts.range.end ?? ''}`;
    const saveTo = opts.saveTo && !opts.range ? { digest, ...opts.saveTo } : undefined;
    const res = await this.send({ method: 'GET', url: `/v2/${repo}/blobs/${digest}`, repo, actions: PULL, headers, what, ...(saveTo ? { saveTo } : {}) });
    if (res.status !== 200 && res.status !== 206) return registryFailure(res, what, 'BLOB_UNKNOWN');
    const lengthHeader = res.headers.get('content-length');
    const size = lengthHeader === null ? -1 : Number(lengthHeader);
    if (res.saved && res.status === 200) return { size, body: res.body, saved: res.saved };
    if (opts.range && res.status === 206) return { size, body: res.body };
    const source = opts.resume && res.status === 200 && size >= 0 ? resumingBody(res.body, size, (offset) => this.reopenBlob(repo, digest, offset)) : res.body;
    const verifier = new VerifyingStream(digest, size >= 0 ? size : undefined);
    return { size, body: pipeInto(source, verifier) };
  }

  // The fetcher's open(offset) (remotes/docker/fetcher.go dockerFetcher.open; core/remotes/docker/ in 2.x): the same
  // GET with `Range: bytes=<offset>-`; a status above 299 fails; a Content-Range must start at the offset, and a
  // response without one (a registry that ignores Range: 200 and the whole blob) has its first `offset` bytes dropped.
  private async reopenBlob(repo: string, digest: string, offset: number): Promise<Reopened> {
    const what = `blob ${repo}@${digest}`;
    const res = await this.send({ method: 'GET', url: `/v2/${repo}/blobs/${digest}`, repo, actions: PULL, headers: { range: `bytes=${offset}-` }, what });
    if (res.status > 299) {
      await drain(res);
      throw new PullbenchError('REGISTRY_ERROR', `${what}: unexpected status code ${res.status} resuming at byte ${offset}`, { details: { status: res.status, offset } });
    }
    const range = res.headers.get('content-range');
    if (range === null) return { body: res.body, skip: offset };
    if (!range.startsWith(`bytes ${offset}-`)) {
      res.body.destroy();
      throw new PullbenchError('REGISTRY_ERROR', `${what}: unhandled content range in response: ${range}`, { details: { offset, range } });
    }
    return { body: res.body, skip: 0 };
  }

  /**
   * Pushes a blob: skipped when the registry has it (HEAD), mounted when `mountFrom` is
   * given and the registry agrees, else uploaded monolithically (small) or in chunks.
   */
  pushBlob(repo: string, data: Buffer | Readable, opts: PushBlobOptions = {}): Promise<Descriptor> {
    return this.pusher.pushBlob(repo, data, opts);
  }

  /**
   * Cross-repository mount of a blob from `fromRepo`; true when the registry mounted it.
   * A registry that declines (202) gets its upload session cancelled.
   */
  mountBlob(repo: string, digest: string, fromRepo: string): Promise<boolean> {
    return this.pusher.mountBlob(repo, digest, fromRepo);
  }

  /** PUT a manifest or index by tag or digest; returns its descriptor. */
  putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<Descriptor> {
    return this.pusher.putManifest(repo, reference, bytes, mediaType);
  }

  /** Every tag of a repository, following `Link` pagination; `pageSize` sets `n`. */
  async listTags(repo: string, opts: { pageSize?: number } = {}): Promise<string[]> {
    const tags: string[] = [];
    let url: string | undefined = `/v2/${repo}/tags/list${opts.pageSize ? `?n=${opts.pageSize}` : ''}`;
    const what = `tags of ${repo}`;
    for (let page = 0; url && page < 10_000; page++) {
      const res = await this.send({ method: 'GET', url, repo, actions: PULL, what });
      if (res.status !== 200) return registryFailure(res, what, 'NOT_FOUND');
      const body = (await readJson(res, what)) as { tags?: unknown };
      if (Array.isArray(body.tags)) tags.push(...body.tags.filter((t): t is string => typeof t === 'string'));
      url = nextLink(res);
    }
    return tags;
  }

  /**
   * OCI 1.1 referrers of a manifest (all pages, filtered by `artifactType` here when the
   * registry did not). A registry without the referrers API (404) gives an empty index.
   */
  async referrers(repo: string, digest: string, artifactType?: string): Promise<ImageIndex> {
    parseDigest(digest);
    const what = `referrers of ${repo}@${digest}`;
    const manifests: Descriptor[] = [];
    let url: string | undefined = `/v2/${repo}/referrers/${digest}${artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : ''}`;
    for (let page = 0; url && page < 10_000; page++) {
      const res = await this.send({ method: 'GET', url, repo, actions: PULL, headers: { accept: MediaType.OciIndex }, what });
      if (res.status === 404) {
        await drain(res);
        break;
      }
      if (res.status !== 200) return registryFailure(res, what, 'MANIFEST_UNKNOWN');
      const body = (await readJson(res, what)) as Partial<ImageIndex>;
      const filtered = (res.headers.get('oci-filters-applied') ?? '').split(',').map((s) => s.trim()).includes('artifactType');
      for (const d of Array.isArray(body.manifests) ? body.manifests : []) {
        if (!artifactType || filtered || d.artifactType === artifactType) manifests.push(d);
      }
      url = nextLink(res);
    }
    return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
  }

  /** DELETE a manifest by digest (the registry must allow deletes). */
  async deleteManifest(repo: string, digest: string): Promise<void> {
    parseDigest(digest);
    const what = `manifest ${repo}@${digest}`;
    const res = await this.send({ method: 'DELETE', url: `/v2/${repo}/manifests/${digest}`, repo, actions: ['delete'], what });
    if (res.status !== 202 && res.status !== 200 && res.status !== 204) return registryFailure(res, what, 'MANIFEST_UNKNOWN');
    await drain(res);
  }

  // One request with the cached authorization; on 401, answer the challenge and retry once.
  private async send(spec: RequestSpec): Promise<HttpResponse> {
    const scopes = mergeScopes(repositoryScope(spec.repo, spec.actions), ...(spec.extraScopes ?? []));
    const key = scopes.join(' ');
    const cached = this.basicHeader ?? this.authCache.get(key);
    const res = await this.rawFetch(spec, cached);
    if (res.status !== 401) return res;
    // A streamed body is gone after the first attempt; uploads authorize on their body-less POST first.
    if (spec.body instanceof Readable) return res;
    const header = res.headers.get('www-authenticate') ?? '';
    await drain(res);
    const authorization = await this.authorize(header, scopes, spec.what);
    if (authorization === undefined || authorization === cached) {
      throw new PullbenchError('REGISTRY_UNAUTHORIZED', `${spec.what}: authentication required${this.credentials ? ' (the credentials were refused)' : ' and no credentials were given'}`, {
        details: { status: 401 },
      });
    }
    if (authorization.startsWith('Basic ')) this.basicHeader = authorization;
    else this.authCache.set(key, authorization);
    return this.rawFetch(spec, authorization);
  }

  private async authorize(header: string, scopes: string[], what: string): Promise<string | undefined> {
    const challenges = parseWwwAuthenticate(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) return this.fetchToken(bearer.params, scopes, what);
    if (challenges.some((c) => c.scheme === 'basic') && this.credentials) {
      return basicAuthorization(this.credentials.username, this.credentials.password);
    }
    return undefined;
  }

  private async fetchToken(params: Record<string, string>, scopes: string[], what: string): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(params.realm ?? '', this.baseUrl);
    } catch {
      throw new PullbenchError('REGISTRY_ERROR', `${what}: the registry's Bearer challenge has no valid realm`, { details: { status: 401 } });
    }
    if (realm.protocol !== 'http:' && realm.protocol !== 'https:') {
      throw new PullbenchError('REGISTRY_ERROR', `${what}: the registry's token realm is not http(s)`, { details: { status: 401 } });
    }
    if (params.service) realm.searchParams.set('service', params.service);
    for (const scope of mergeScopes(params.scope, ...scopes)) realm.searchParams.append('scope', scope);
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    if (this.credentials) headers.authorization = basicAuthorization(this.credentials.username, this.credentials.password);
    const res = await this.withTimeout(realm.toString(), { method: 'GET', headers }, `token for ${what}`);
    if (res.status !== 200) {
      await drain(res);
      const code = res.status === 401 ? 'REGISTRY_UNAUTHORIZED' : res.status === 403 ? 'REGISTRY_DENIED' : 'REGISTRY_ERROR';
      throw new PullbenchError(code, `${what}: the token endpoint refused (${res.status})${this.credentials ? '; check the credentials' : ''}`, {
        details: { status: res.status, realm: realm.origin + realm.pathname },
      });
    }
    return `Bearer ${tokenFromResponse(await readJson(res, 'token response'))}`;
  }

  private rawFetch(spec: RequestSpec, authorization: string | undefined): Promise<HttpResponse> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...this.extraHeaders, ...spec.headers };
    if (authorization) headers.authorization = authorization;
    const url = /^https?:\/\//.test(spec.url) ? spec.url : this.apiUrl(spec.url);
    const init = { method: spec.method, headers, ...(spec.body === undefined ? {} : { body: spec.body }), ...(spec.saveTo ? { saveTo: spec.saveTo } : {}) };
    return this.withTimeout(url, init, spec.what);
  }

  // Paths are written `/v2/...`; the host's API path replaces `/v2`, and a mirror gets `ns` (containerd's addNamespace).
  private apiUrl(path: string): string {
    const url = new URL(this.baseUrl + this.apiPath + path.replace(/^\/v2(?=\/|$)/, ''));
    if (this.namespace !== undefined) url.searchParams.append('ns', this.namespace);
    return url.toString();
  }

  // The timeout covers waiting for response headers; a body streams for as long as it takes.
  private async withTimeout(url: string, init: Omit<HttpRequest, 'signal'>, what: string): Promise<HttpResponse> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    try {
      return await this.transport.request(url, { ...init, signal: controller.signal });
    } catch (err) {
      // A request body that failed its own verification is that failure, not a network one.
      const bodyError = pullbenchCause(err);
      if (bodyError) throw bodyError;
      const timedOut = controller.signal.aborted;
      throw new PullbenchError(
        'REGISTRY_UNREACHABLE',
        `${what}: ${timedOut ? `no answer from ${this.baseUrl} within ${this.timeoutMs} ms` : `cannot reach ${this.baseUrl} (${causeText(err)})`}`,
        { cause: err, details: { url: redactUrl(url), ...(timedOut ? { timeoutMs: this.timeoutMs } : {}) } },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The `rel="next"` target of a Link header, as a path or URL. */
function nextLink(res: { headers: { get(name: string): string | null } }): string | undefined {
  const link = res.headers.get('link');
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (m) return m[1];
  }
  return undefined;
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return u.origin + u.pathname;
  } catch {
    return '(invalid url)';
  }
}

