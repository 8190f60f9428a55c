// The upload half of the registry API (OCI distribution spec, "Pushing blobs"): POST starts
// a session (or mounts a blob from another repository, or takes the whole blob with ?digest=),
// PATCH appends a chunk at its Content-Range, PUT ?digest= commits, GET reports, DELETE cancels.
// RegistryApp routes here after authorizing; this module owns the open sessions.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isDigest } from '../oci/digest.js';
import { contentLength, unsupported } from './api-http.js';
import type { Authenticator, Principal } from './auth.js';
import type { BlobStore, BlobUpload } from './blob-store.js';
import { RegistryHttpError } from './http-error.js';
import type { RepositoryIndex } from './repositories.js';
import { isRepositoryName, type Route } from './routes.js';

export interface UploadOptions {
  store: BlobStore;
  index: RepositoryIndex;
  auth: Authenticator;
  maxBlobBytes: number;
}

interface UploadSession {
  name: string;
  upload: BlobUpload;
  busy: boolean;
  touched: number;
}

/** Uploads idle this long are cancelled (and their temp files removed). */
const UPLOAD_IDLE_MS = 60 * 60 * 1000;

/** Open upload sessions and the requests that drive them. */
export class Uploads {
  private readonly sessions = new Map<string, UploadSession>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly opts: UploadOptions) {
    this.sweeper = setInterval(() => this.sweep(Date.now() - UPLOAD_IDLE_MS), 60_000).unref();
  }

  /** Cancels uploads not touched since `before` (ms since epoch). */
  sweep(before: number): void {
    for (const [id, s] of this.sessions) {
      if (!s.busy && s.touched < before) {
        this.sessions.delete(id);
        void s.upload.abort().catch(() => undefined);
      }
    }
  }

  /** Stops the sweeper and cancels every open upload (their temp files go). */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.sessions.values()].map((s) => s.upload.abort().catch(() => undefined)));
    this.sessions.clear();
  }

  private async link(name: string, digest: string): Promise<void> {
    const repo = this.opts.index.getOrCreate(name);
    repo.blobs.add(digest);
    await this.opts.index.save(repo);
  }

  private blobCreated(res: ServerResponse, name: string, digest: string): void {
    res.writeHead(201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': '0' });
    res.end();
  }

  private checkLength(req: IncomingMessage): void {
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > this.opts.maxBlobBytes) {
      throw new RegistryHttpError('SIZE_INVALID', `blob exceeds the limit of ${this.opts.maxBlobBytes} bytes`, { status: 413 });
    }
  }

  async start(req: IncomingMessage, res: ServerResponse, name: string, query: URLSearchParams, principal: Principal): Promise<void> {
    const { index, store, auth } = this.opts;
    const mount = query.get('mount');
    const from = query.get('from');
    if (mount !== null && from !== null && isDigest(mount) && isRepositoryName(from)) {
      const source = index.get(from);
      if (source?.blobs.has(mount) && store.size(mount) !== undefined && auth.allowed(principal, 'repository', from, 'pull')) {
        req.resume();
        await this.link(name, mount);
        return this.blobCreated(res, name, mount);
      }
    }
    const digest = query.get('digest');
    const upload = store.startUpload();
    if (digest !== null) {
      if (!isDigest(digest)) throw new RegistryHttpError('DIGEST_INVALID', 'invalid digest');
      this.checkLength(req);
      try {
        await upload.append(req, this.opts.maxBlobBytes);
        await upload.commit(digest, contentLength(req));
      } catch (err) {
        await upload.abort();
        throw err;
      }
      await this.link(name, digest);
      return this.blobCreated(res, name, digest);
    }
    req.resume();
    this.sessions.set(upload.id, { name, upload, busy: false, touched: Date.now() });
    this.uploadAccepted(res, 202, name, upload);
  }

  private uploadAccepted(res: ServerResponse, status: number, name: string, upload: BlobUpload): void {
    res.writeHead(status, {
      Location: `/v2/${name}/blobs/uploads/${upload.id}`,
      Range: `0-${Math.max(0, upload.size - 1)}`,
      'Docker-Upload-UUID': upload.id,
      'Content-Length': '0',
    });
    res.end();
  }

  async continue(
    req: IncomingMessage,
    res: ServerResponse,
    route: Extract<Route, { kind: 'upload' }>,
    method: string,
    query: URLSearchParams,
  ): Promise<void> {
    const session = this.sessions.get(route.id);
    if (!session || session.name !== route.name) throw new RegistryHttpError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown');
    const { upload } = session;
    session.touched = Date.now();
    if (method === 'GET') return this.uploadAccepted(res, 204, route.name, upload);
    if (method === 'DELETE') {
      this.sessions.delete(route.id);
      await upload.abort();
      res.writeHead(204);
      res.end();
      return;
    }
    if (method !== 'PATCH' && method !== 'PUT') throw unsupported();
    if (session.busy) throw new RegistryHttpError('RANGE_INVALID', 'another request is writing to this upload');
    let digest: string | null = null;
    if (method === 'PUT') {
      digest = query.get('digest');
      if (digest === null || !isDigest(digest)) throw new RegistryHttpError('DIGEST_INVALID', 'PUT needs a valid ?digest=');
    }
    const contentRange = req.headers['content-range'];
    if (contentRange !== undefined) {
      const m = /^(?:bytes[ =])?(\d+)-(\d+)$/.exec(contentRange.trim());
      const start = m ? Number(m[1]) : NaN;
      const end = m ? Number(m[2]) : NaN;
      const len = contentLength(req);
      if (!m || start !== upload.size || end < start || (len !== undefined && len !== end - start + 1)) {
        throw new RegistryHttpError('RANGE_INVALID', 'Content-Range does not continue the upload', {
          headers: { Range: `0-${Math.max(0, upload.size - 1)}`, Location: `/v2/${route.name}/blobs/uploads/${upload.id}` },
          detail: { contentRange: contentRange.slice(0, 100), uploaded: upload.size },
        });
      }
    }
    if (upload.size + (contentLength(req) ?? 0) > this.opts.maxBlobBytes) {
      throw new RegistryHttpError('SIZE_INVALID', `blob exceeds the limit of ${this.opts.maxBlobBytes} bytes`, { status: 413 });
    }
    session.busy = true;
    try {
      await upload.append(req, this.opts.maxBlobBytes);
    } catch (err) {
      // A partial chunk leaves the upload in an unknown state: drop it.
      this.sessions.delete(route.id);
      await upload.abort();
      throw err;
    } finally {
      session.busy = false;
    }
    if (method === 'PATCH') return this.uploadAccepted(res, 202, route.name, upload);
    this.sessions.delete(route.id);
    try {
      await upload.commit(digest!);
    } catch (err) {
      await upload.abort();
      throw err;
    }
    await this.link(route.name, digest!);
    this.blobCreated(res, route.name, digest!);
  }
}
