// The push path of RegistryClient: blobs (HEAD skip, cross-repository mount, monolithic
// or chunked upload, cancelled on failure) and manifests, over the client's authorized session.
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { PullbenchError } from '../errors.js';
import type { HttpResponse } from '../net/http-pool.js';
import { repositoryScope } from './auth.js';
import { Digester, digestOf, isDigest, parseDigest } from './digest.js';
import type { Descriptor } from './media-types.js';
import { checkReference } from './reference.js';
import { PULL, PUSH, pullbenchCause, registryFailure, type RegistrySession } from './request.js';
import { chunksOf, drain } from './response-body.js';

export interface PushBlobOptions {
  /** Known digest: enables the HEAD skip and mounting; verified by the registry on commit. */
  digest?: string;
  /** Known size: checked locally (SIZE_MISMATCH) and sent as Content-Length. */
  size?: number;
  /** Upload in PATCH chunks of this many bytes (OCI chunked upload). */
  chunkSize?: number;
  /** Repository to mount the blob from (cross-repository mount); falls back to an upload. */
  mountFrom?: string;
}

/** Blobs larger than this are uploaded in chunks unless a chunk size is given. */
export const MONOLITHIC_LIMIT = 64 * 1024 * 1024;
const DEFAULT_CHUNK = 16 * 1024 * 1024;

export class Pusher {
  constructor(private readonly session: RegistrySession) {}

  /**
   * Pushes a blob: skipped when the registry has it (HEAD), mounted when `mountFrom` is
   * given and the registry agrees, else uploaded monolithically (small) or in chunks.
   */
  async pushBlob(repo: string, data: Buffer | Readable, opts: PushBlobOptions = {}): Promise<Descriptor> {
    let digest = opts.digest;
    let size = opts.size;
    if (Buffer.isBuffer(data)) {
      const actual = digestOf(data, digest ? parseDigest(digest).algorithm : 'sha256');
      if (digest && digest !== actual) {
        throw new PullbenchError('DIGEST_MISMATCH', `blob content has digest ${actual}, expected ${digest}`, { details: { expected: digest, actual } });
      }
      if (size !== undefined && size !== data.length) {
        throw new PullbenchError('SIZE_MISMATCH', `blob is ${data.length} bytes, expected ${size}`, { details: { expected: size, actual: data.length } });
      }
      digest = actual;
      size = data.length;
    } else if (digest) {
      parseDigest(digest);
    }
    if (digest) {
      const existing = await this.session.headBlob(repo, digest);
      if (existing) {
        if (Readable.isReadable(data as Readable)) (data as Readable).destroy();
        return descriptorOf(digest, existing.size);
      }
    }
    const what = `blob upload to ${repo}`;
    let location: string;
    if (opts.mountFrom && digest) {
      const mount = await this.tryMount(repo, digest, opts.mountFrom);
      if (mount.mounted) {
        if (!Buffer.isBuffer(data)) data.destroy();
        return descriptorOf(digest, size ?? mount.size);
      }
      location = mount.location;
    } else {
      location = await this.startUpload(repo, what);
    }

    try {
      return await this.upload(repo, location, data, { digest, size, chunkSize: opts.chunkSize }, what);
    } catch (err) {
      await this.cancelUpload(repo, location);
      throw err;
    }
  }

  private async upload(
    repo: string,
    location: string,
    data: Buffer | Readable,
    opts: { digest?: string | undefined; size?: number | undefined; chunkSize?: number | undefined },
    what: string,
  ): Promise<Descriptor> {
    const { digest, size } = opts;
    const chunked = opts.chunkSize !== undefined || size === undefined || size > MONOLITHIC_LIMIT || !digest;
    if (!chunked && digest) {
      const streamError = Buffer.isBuffer(data) ? Promise.resolve(undefined) : finished(data).then(() => undefined, (err: unknown) => err);
      const res = await this.session.send({
        method: 'PUT',
        url: withQuery(location, 'digest', digest),
        repo,
        actions: PUSH,
        headers: { 'content-type': 'application/octet-stream', ...(size === undefined ? {} : { 'content-length': String(size) }) },
        body: data,
        what,
      });
      if (res.status !== 201) return registryFailure(res, what, 'BLOB_UNKNOWN');
      await drain(res);
      // A source that failed its own verification after its last byte went out still fails the push
      // (bounded wait: a registry may answer before it has read everything).
      const failed = await Promise.race([streamError, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000).unref())]);
      if (failed) throw pullbenchCause(failed) ?? new PullbenchError('REGISTRY_ERROR', `${what}: the blob source failed`, { cause: failed });
      return descriptorOf(digest, size as number);
    }
    return this.uploadChunks(repo, location, data, { digest, size, chunkSize: opts.chunkSize ?? DEFAULT_CHUNK }, what);
  }

  // Best effort: a failed upload should not leave its session open on the registry.
  private async cancelUpload(repo: string, location: string): Promise<void> {
    try {
      await drain(await this.session.send({ method: 'DELETE', url: location, repo, actions: PUSH, what: `cancel upload to ${repo}` }));
    } catch {
      /* the original error matters more */
    }
  }

  /**
   * Cross-repository mount of a blob from `fromRepo`; true when the registry mounted it.
   * A registry that declines (202) gets its upload session cancelled.
   */
  async mountBlob(repo: string, digest: string, fromRepo: string): Promise<boolean> {
    parseDigest(digest);
    const mount = await this.tryMount(repo, digest, fromRepo);
    if (!mount.mounted) await this.cancelUpload(repo, mount.location);
    return mount.mounted;
  }

  private async tryMount(repo: string, digest: string, fromRepo: string): Promise<{ mounted: true; size: number } | { mounted: false; location: string }> {
    const what = `mount of ${digest} from ${fromRepo} to ${repo}`;
    const res = await this.session.send({
      method: 'POST',
      url: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(fromRepo)}`,
      repo,
      actions: PUSH,
      extraScopes: [repositoryScope(fromRepo, PULL)],
      headers: { 'content-length': '0' },
      what,
    });
    if (res.status === 201) {
      await drain(res);
      return { mounted: true, size: Number(res.headers.get('content-length') ?? -1) };
    }
    if (res.status !== 202) return registryFailure(res, what, 'BLOB_UNKNOWN');
    return { mounted: false, location: await this.locationOf(res, what) };
  }

  /** PUT a manifest or index by tag or digest; returns its descriptor. */
  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<Descriptor> {
    checkReference(reference);
    const digest = digestOf(bytes);
    if (isDigest(reference) && reference !== digest) {
      throw new PullbenchError('DIGEST_MISMATCH', `manifest content has digest ${digest}, not ${reference}`, { details: { expected: reference, actual: digest } });
    }
    const what = `manifest ${repo}:${reference}`;
    const res = await this.session.send({
      method: 'PUT',
      url: `/v2/${repo}/manifests/${reference}`,
      repo,
      actions: PUSH,
      headers: { 'content-type': mediaType },
      body: bytes,
      what,
    });
    if (res.status !== 201 && res.status !== 200) return registryFailure(res, what, 'MANIFEST_UNKNOWN');
    await drain(res);
    const returned = res.headers.get('docker-content-digest');
    if (returned && returned.startsWith('sha256:') && returned !== digest) {
      throw new PullbenchError('DIGEST_MISMATCH', `${what}: registry stored ${returned}, content has digest ${digest}`, { details: { expected: digest, actual: returned } });
    }
    return { mediaType, digest, size: bytes.length };
  }

  private async startUpload(repo: string, what: string): Promise<string> {
    const res = await this.session.send({ method: 'POST', url: `/v2/${repo}/blobs/uploads/`, repo, actions: PUSH, headers: { 'content-length': '0' }, what });
    if (res.status !== 202) return registryFailure(res, what, 'BLOB_UNKNOWN');
    return this.locationOf(res, what);
  }

  private async locationOf(res: HttpResponse, what: string): Promise<string> {
    await drain(res);
    const location = res.headers.get('location');
    if (!location) throw new PullbenchError('REGISTRY_ERROR', `${what}: the registry gave no upload Location`, { details: { status: res.status } });
    return new URL(location, this.session.baseUrl).toString();
  }

  // PATCH the content in chunks with Content-Range, then PUT ?digest= to commit.
  private async uploadChunks(
    repo: string,
    start: string,
    data: Buffer | Readable,
    opts: { digest?: string | undefined; size?: number | undefined; chunkSize: number },
    what: string,
  ): Promise<Descriptor> {
    if (!Number.isInteger(opts.chunkSize) || opts.chunkSize <= 0) {
      throw new PullbenchError('INVALID_ARGUMENT', `chunk size must be a positive integer, got ${opts.chunkSize}`);
    }
    const digester = new Digester(opts.digest ? parseDigest(opts.digest).algorithm : 'sha256');
    let location = start;
    let offset = 0;
    for await (const chunk of chunksOf(data, opts.chunkSize)) {
      digester.update(chunk);
      const res = await this.session.send({
        method: 'PATCH',
        url: location,
        repo,
        actions: PUSH,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(chunk.length),
          'content-range': `${offset}-${offset + chunk.length - 1}`,
        },
        body: chunk,
        what,
      });
      if (res.status !== 202) return registryFailure(res, what, 'BLOB_UNKNOWN');
      location = await this.locationOf(res, what);
      offset += chunk.length;
    }
    const actual = digester.digest();
    if (opts.size !== undefined && offset !== opts.size) {
      throw new PullbenchError('SIZE_MISMATCH', `${what}: blob is ${offset} bytes, expected ${opts.size}`, { details: { expected: opts.size, actual: offset } });
    }
    if (opts.digest && opts.digest !== actual) {
      throw new PullbenchError('DIGEST_MISMATCH', `${what}: content has digest ${actual}, expected ${opts.digest}`, { details: { expected: opts.digest, actual } });
    }
    const res = await this.session.send({ method: 'PUT', url: withQuery(location, 'digest', actual), repo, actions: PUSH, headers: { 'content-length': '0' }, what });
    if (res.status !== 201) return registryFailure(res, what, 'BLOB_UNKNOWN');
    await drain(res);
    return descriptorOf(actual, offset);
  }
}

function descriptorOf(digest: string, size: number): Descriptor {
  return { mediaType: 'application/octet-stream', digest, size };
}

function withQuery(location: string, key: string, value: string): string {
  const url = new URL(location);
  url.searchParams.set(key, value);
  return url.toString();
}
