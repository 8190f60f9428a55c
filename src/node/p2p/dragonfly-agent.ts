import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import type { HttpResponse, HttpTransport } from '../../net/http-pool.js';
import { sendShaped } from '../../net/shaped-response.js';
import type { Link } from '../../net/shaper.js';
import { AgentServer, corrupted, corrupting, drain } from './agent-server.js';
import { parseDistributionPath, type DistributionPath } from './distribution-path.js';
import type { PieceOptions } from './options.js';
import { downloadTask, PIECE_WAIT_MS } from './piece-download.js';
import type { ParentSelector } from './parent-selector.js';
import type { PieceScheduler, Task } from './piece-scheduler.js';
import type { AgentCounters } from './spegel-agent.js';

/** The header a dfdaemon's piece request carries here (what the peer's upload server answers). */
const PIECE_PATH = /^\/pieces\/(sha256:[a-f0-9]{64})\/(\d+)$/;
/**
 * Times a request to the source is retried after a transient failure (a connection error, 408, 429 or 5xx):
 * dragonfly-client-config src/dfdaemon.rs: default_backend_max_retries (1), which dragonfly-client-backend
 * src/http.rs: HTTP::new gives reqwest-retry's RetryTransientMiddleware (its backoff wait is not modelled).
 */
const BACKEND_MAX_RETRIES = 1;
/** Statuses reqwest-retry's default strategy (default_on_request_success) retries, besides any 5xx. */
const TRANSIENT = new Set([408, 429]);
/** Headers a dfdaemon proxy passes to the registry (the node's credentials, what it accepts). */
const FORWARDED = ['authorization', 'accept', 'range'];

export interface DragonflyPeers {
  scheduler: PieceScheduler;
  /** This dfdaemon's choice of parent for each piece, among those that hold it. */
  selector: ParentSelector;
  url(n: number): string;
  /** This node's download link to its peers. */
  transport: HttpTransport;
  /** This node's link to the registry (the same link its runtime pulls over). */
  source: HttpTransport;
  /** host:port of the registry through that link. */
  sourceHost: string;
  /** Where the agent keeps pieces (its storage). */
  dir: string;
  /** A blob was asked for (the network's fault clock starts at the first). */
  asked(): void;
  /**
   * This node's upload link, which the pieces it serves its peers cross (the agent shapes its own writes), and the
   * count of what it carried. Undefined: served unshaped (a shaped proxy in front of the agent, or a unit test).
   */
  upload?: { link: Link; sent(bytes: number): void } | undefined;
}

interface LocalTask {
  task: Task;
  file: FileHandle;
  have: Uint8Array;
  /** Resolves when the download ends (all pieces, or failed). */
  done: Promise<void>;
  failed: boolean;
}

/**
 * Piece mode: a node's dfdaemon (dragonflyoss/client at ff17c0b) with the scheduler (piece-scheduler.ts).
 * - Its proxy is the node's first host in hosts.toml (dfinit writes it); blob GETs become P2P tasks, everything
 *   else (manifests, HEADs) is passed to the registry over the node's own link.
 * - A task's blob is cut into pieces (piece-scheduler.ts: pieceLengthFor); the peer downloads
 *   download.concurrentPieceCount (8) at once (dragonfly-client-config/src/dfdaemon.rs:
 *   default_download_concurrent_piece_count), from the source (HTTP Range requests) when the scheduler sends it
 *   back to source, else from its parents, lowest piece first (the parents' sync_pieces streams report pieces in
 *   number order, dfdaemon_upload.rs: sync_pieces; the collector hands them on as they come, piece_collector.rs),
 *   each from one of the parents that hold it, weighted by their idle upload (parent-selector.ts).
 * - Pieces are served to peers as soon as they are stored, while the blob is still arriving, and streamed to the
 *   node's runtime in order as they complete.
 * - Every piece from a parent is checked against the digest the back-to-source peer recorded; a corrupt piece or a
 *   failed parent blocklists that parent and the piece is fetched again; with no parent left the peer is scheduled
 *   again (and may go back to source). The piece digest is crc32, as Dragonfly's.
 */
export class DragonflyAgent {
  readonly server = new AgentServer((req, res) => this.handle(req, res));
  corrupt = false;
  private readonly local = new Map<string, LocalTask>();
  private readonly files = new Set<FileHandle>();

  constructor(
    readonly node: number,
    private readonly opts: PieceOptions,
    private readonly peers: DragonflyPeers,
    readonly counters: AgentCounters & { sourceBytes: number },
  ) {}

  async start(): Promise<void> {
    await this.server.start();
  }

  kill(): void {
    this.server.kill();
    this.peers.scheduler.leave(this.node);
  }

  async close(): Promise<void> {
    await this.server.close();
    await Promise.all([...this.files].map((f) => f.close().catch(() => undefined)));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const piece = PIECE_PATH.exec(url);
    if (piece) return this.uploadPiece(piece[1]!, Number(piece[2]), res);
    const dist = parseDistributionPath(url);
    if (dist?.kind === 'blobs' && req.method === 'GET' && !req.headers.range) return this.serveBlob(dist, req, res);
    return this.passThrough(req, res);
  }

  // What a dfdaemon proxy does with anything but a blob: the registry answers it, over this node's link.
  private async passThrough(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://agent');
    u.searchParams.delete('ns');
    const response = await this.peers.source.request(`http://${this.peers.sourceHost}${u.pathname}${u.search}`, {
      method: req.method ?? 'GET',
      headers: forwarded(req),
    });
    res.writeHead(response.status, responseHeaders(response));
    await pipeline(response.body, res);
  }

  // A peer's upload server: a piece this node stored, or 404.
  private async uploadPiece(digest: string, n: number, res: ServerResponse): Promise<void> {
    const lt = this.local.get(digest);
    if (!lt || lt.have[n] !== 1) {
      res.writeHead(404).end();
      return;
    }
    const buf = readPiece(lt, n);
    res.writeHead(200, { 'content-length': buf.length, 'content-type': 'application/octet-stream' });
    const { upload } = this.peers;
    if (upload) await sendShaped(upload.link, res, this.corrupt ? corrupted(buf) : buf, upload.sent);
    else if (this.corrupt) await pipeline([buf], corrupting(), res);
    else res.end(buf);
  }

  private async serveBlob(dist: DistributionPath, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const digest = dist.reference;
    const { scheduler } = this.peers;
    this.peers.asked();
    const task = scheduler.task(digest);
    let lt = this.local.get(digest);
    if (lt?.failed) {
      this.local.delete(digest);
      lt = undefined;
    }
    if (!lt) {
      const file = await open(join(this.peers.dir, digest.replace(':', '-')), 'w+');
      this.files.add(file);
      const entry: LocalTask = { task, file, have: new Uint8Array(0), done: Promise.resolve(), failed: false };
      this.local.set(digest, entry);
      entry.done = this.download(entry, dist, forwarded(req));
      entry.done.catch(() => {
        entry.failed = true;
        scheduler.touch(task, this.node);
      });
      lt = entry;
    }
    // The response starts once the size is known, then streams the pieces in order as they complete.
    while (task.size === undefined) {
      const failed = await Promise.race([lt.done.then(() => false, () => true), scheduler.changed(task, PIECE_WAIT_MS).then(() => false)]);
      if (failed && task.size === undefined) {
        res.writeHead(502).end();
        return;
      }
    }
    res.writeHead(200, { 'content-length': task.size, 'content-type': 'application/octet-stream', 'docker-content-digest': digest });
    for (let n = 0; n < task.pieceCount; n++) {
      while (lt.have[n] !== 1) {
        if (lt.failed) {
          res.destroy();
          return;
        }
        await Promise.race([scheduler.changed(task, PIECE_WAIT_MS, [this.node]), lt.done.catch(() => undefined)]);
      }
      const buf = readPiece(lt, n);
      if (!res.write(buf)) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
  }

  // The peer's download (piece-download.ts), over HTTP: the source through this node's link, parents over its peer link.
  private download(lt: LocalTask, dist: DistributionPath, headers: Record<string, string>): Promise<void> {
    const { scheduler, selector } = this.peers;
    return downloadTask({
      node: this.node,
      opts: this.opts,
      scheduler,
      selector,
      fallbacks: this.counters.fallbacks,
      task: lt.task,
      local: lt,
      sourceSize: async () => {
        const head = await this.fromSource(this.sourceUrl(dist), 'HEAD', headers);
        const size = Number(head.headers.get('content-length'));
        if (head.status !== 200 || !Number.isFinite(size)) throw new Error(`source answered ${head.status}`);
        return size;
      },
      fetchPiece: (n, parent) => this.fetchPiece(lt, dist, headers, n, parent),
      alive: () => this.alive(),
    });
  }

  // A killed dfdaemon downloads nothing more and reports nothing to the scheduler (it left every task).
  private alive(): void {
    if (this.server.killed) throw new Error(`node ${this.node + 1}'s agent was killed`);
  }

  private sourceUrl(dist: DistributionPath): string {
    return `http://${this.peers.sourceHost}/v2/${dist.name}/blobs/${dist.reference}`;
  }

  // A GET to the source, retried BACKEND_MAX_RETRIES times on a transient failure as the backend's client does.
  private async fromSource(url: string, method: 'GET' | 'HEAD', headers: Record<string, string>): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= BACKEND_MAX_RETRIES;
      let response: HttpResponse;
      try {
        response = await this.peers.source.request(url, { method, headers });
      } catch (err) {
        if (last) throw err;
        continue;
      }
      if (last || (!TRANSIENT.has(response.status) && response.status < 500)) return response;
      await drain(response.body).catch(() => undefined);
    }
  }

  private async fetchPiece(lt: LocalTask, dist: DistributionPath, headers: Record<string, string>, n: number, parent: number | undefined): Promise<void> {
    const task = lt.task;
    const { offset, length } = range(task, n);
    const fromSource = parent === undefined;
    let response: HttpResponse;
    try {
      response = fromSource
        ? await this.fromSource(this.sourceUrl(dist), 'GET', { ...headers, range: `bytes=${offset}-${offset + length - 1}` })
        : await this.peers.transport.request(`${this.peers.url(parent)}/pieces/${task.digest}/${n}`, { method: 'GET', headers: {} });
    } catch (err) {
      if (!fromSource) this.counters.fallbacks.peerFailed++;
      throw err;
    }
    if (response.status !== 200 && response.status !== 206) {
      await drain(response.body).catch(() => undefined);
      if (!fromSource) this.counters.fallbacks.peerFailed++;
      throw new Error(`piece ${n}: ${response.status}`);
    }
    // The piece's crc32 as it arrives, as Dragonfly's storage computes it while it writes the piece
    // (dragonfly-client-storage src/content_linux.rs: write_piece_from_stream), checked against the parent's.
    const chunks: Buffer[] = [];
    let received = 0;
    let crc = 0;
    try {
      for await (const c of response.body as AsyncIterable<Buffer>) {
        chunks.push(c);
        received += c.length;
        crc = crc32(c, crc);
      }
    } catch (err) {
      this.counters.fallbacks.aborted++;
      throw err;
    }
    const digest = `crc32:${crc.toString(16)}`;
    const expected = task.pieceDigests[n];
    if (received !== length || (!fromSource && expected !== undefined && digest !== expected)) {
      this.counters.fallbacks.corrupt++;
      throw new Error(`piece ${n} failed its digest check`);
    }
    this.alive();
    await lt.file.writev(chunks, offset);
    lt.have[n] = 1;
    this.counters.wanted++;
    if (fromSource) this.counters.sourceBytes += length;
    else this.counters.fromPeers++;
    this.peers.scheduler.pieceDone(task, this.node, n, digest);
  }
}

// A stored piece, read back as Dragonfly's upload server and proxy read it (from the page cache: it was just written).
// Synchronously: the read is a copy from memory, where a promise read would queue behind the layer threads' work on
// libuv's pool and cost the main thread more than the copy.
function readPiece(lt: LocalTask, n: number): Buffer {
  const { offset, length } = range(lt.task, n);
  const buf = Buffer.allocUnsafe(length);
  readSync(lt.file.fd, buf, 0, length, offset);
  return buf;
}

function range(task: Task, n: number): { offset: number; length: number } {
  const offset = n * task.pieceLength;
  return { offset, length: Math.min(task.pieceLength, task.size! - offset) };
}

function forwarded(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of FORWARDED) {
    const v = req.headers[h];
    if (typeof v === 'string') out[h] = v;
  }
  return out;
}

function responseHeaders(r: HttpResponse): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of ['content-length', 'content-type', 'docker-content-digest', 'www-authenticate', 'location', 'content-range', 'etag']) {
    const v = r.headers.get(h);
    if (v !== null) out[h] = v;
  }
  return out;
}
