import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { Clock } from '../../core/clock.js';
import type { HttpTransport } from '../../net/http-pool.js';
import { AgentServer, corrupting } from './agent-server.js';
import { blobFile, type ContentIndex, ContentWatch, LookupCache } from './content-index.js';
import { isDigest, parseDistributionPath, tagKey, type DistributionPath } from './distribution-path.js';
import type { P2pFallbacks, WholeBlobOptions } from './options.js';

/** The header a Spegel registry marks a peer's request with, so that the peer serves it from its own store only (pkg/registry/registry.go: HeaderSpegelMirrored). */
const MIRRORED = 'x-spegel-mirrored';

export interface SpegelPeers {
  index: ContentIndex;
  /** Base URL of node `n`'s agent as its peers reach it (through its upload link). */
  url(n: number): string;
  /** This node's download link to its peers. */
  transport: HttpTransport;
  clock: Clock;
  /** A blob was asked for (the network's fault clock starts at the first). */
  asked(): void;
}

export interface AgentCounters {
  wanted: number;
  fromPeers: number;
  fallbacks: P2pFallbacks;
}

/**
 * Whole-blob mode: Spegel's registry on one node (spegel-org/spegel, pkg/registry/registry.go at b8c715a).
 * - Its node's containerd lists it first in hosts.toml (pkg/oci/containerd/mirror.go: templateHosts, capabilities
 *   pull, plus resolve with --resolve-tags), so every request of the node comes here first.
 * - registryHandler: content present in the local store is served from it; anything else goes to mirrorHandler,
 *   unless the request is a peer's (X-Spegel-Mirrored), which only the local store answers (404 otherwise).
 * - mirrorHandler: looks the key (digest, or tag name) up in the router for up to --mirror-resolve-retries (3)
 *   peers and fetches from them in turn; when none has it, or all fail, it answers 404 and containerd falls
 *   through to the next host (the registry). A stream that breaks once started fails the node's fetch.
 * - Lookups are cached (pkg/routing/libp2p/libp2p.go: lookupCacheTTL 5 s, refreshed after half of it unless the
 *   cached answer already has the peers asked for): a miss stays a miss that long.
 * - The store it serves is containerd's content store, committed blobs only (pkg/oci/containerd/containerd.go:
 *   Descriptor, Open); tags from the node's images (Resolve).
 * Differences: one peer at a time where Spegel hedges its requests (raceFetch); the agent also hashes what it relays
 * to count corrupt peers (containerd rejects the bytes by their digest, as here).
 */
export class SpegelAgent {
  readonly server = new AgentServer((req, res) => this.handle(req, res));
  readonly watch: ContentWatch;
  contentRoot: string | undefined;
  corrupt = false;
  private readonly tags = new Map<string, string>();
  private readonly lookups: LookupCache;
  readonly counters: AgentCounters;

  constructor(
    readonly node: number,
    private readonly opts: WholeBlobOptions,
    private readonly peers: SpegelPeers,
    counters: AgentCounters,
  ) {
    this.counters = counters;
    this.lookups = new LookupCache(peers.index, peers.clock, opts.lookupCacheTtlMs, opts.resolveRetries);
    this.watch = new ContentWatch(() => this.contentRoot, (digest) => peers.index.advertise(node, digest));
  }

  async start(): Promise<void> {
    await this.server.start();
    this.watch.start();
  }

  /** The node's runtime created an image: its tag is advertised (containerd's /images/create event, Spegel's Watch). */
  imageCreated(registry: string, name: string, tag: string, manifestDigest: string): void {
    if (!this.opts.resolveTags) return;
    const key = tagKey(registry, name, tag);
    this.tags.set(key, manifestDigest);
    this.peers.index.advertise(this.node, key);
  }

  kill(): void {
    this.server.kill();
    this.watch.stop();
    this.peers.index.withdrawAll(this.node);
  }

  async close(): Promise<void> {
    this.watch.stop();
    await this.server.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://agent').pathname;
    if (path === '/v2' || path === '/v2/') {
      res.writeHead(200).end();
      return;
    }
    const dist = parseDistributionPath(req.url ?? '/');
    if (!dist || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end();
      return;
    }
    const fromPeer = req.headers[MIRRORED] === 'true';
    if (!fromPeer && dist.kind === 'blobs' && req.method === 'GET') {
      this.counters.wanted++;
      this.peers.asked();
    }
    const digest = await this.localDigest(dist);
    if (digest !== undefined && (await this.serveLocal(digest, dist, req.method === 'HEAD', fromPeer, res))) return;
    if (fromPeer) {
      res.writeHead(404).end();
      return;
    }
    await this.mirror(dist, req, res);
  }

  // The digest the local store would serve for the path: the digest itself, or the tag of an image this node holds.
  private async localDigest(dist: DistributionPath): Promise<string | undefined> {
    if (isDigest(dist.reference)) return dist.reference;
    if (!this.opts.resolveTags) return undefined;
    return this.tags.get(tagKey(dist.registry ?? '', dist.name, dist.reference));
  }

  private async serveLocal(digest: string, dist: DistributionPath, head: boolean, toPeer: boolean, res: ServerResponse): Promise<boolean> {
    if (this.contentRoot === undefined) return false;
    const file = blobFile(this.contentRoot, digest);
    const size = await stat(file).then((s) => s.size, () => undefined);
    if (size === undefined) return false;
    const headers: Record<string, string | number> = { 'content-length': size, 'docker-content-digest': digest };
    if (dist.kind === 'manifests') {
      const bytes = await readFile(file);
      headers['content-type'] = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
      res.writeHead(200, headers);
      if (head) res.end();
      else if (toPeer && this.corrupt) await pipeline([bytes], corrupting(), res);
      else res.end(bytes);
      return true;
    }
    headers['content-type'] = 'application/octet-stream';
    res.writeHead(200, headers);
    if (head) res.end();
    else if (toPeer && this.corrupt) await pipeline(createReadStream(file), corrupting(), res);
    else await pipeline(createReadStream(file), res);
    return true;
  }

  private async mirror(dist: DistributionPath, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!isDigest(dist.reference) && !this.opts.resolveTags) {
      res.writeHead(404).end();
      return;
    }
    const key = isDigest(dist.reference) ? dist.reference : tagKey(dist.registry ?? '', dist.name, dist.reference);
    const blob = dist.kind === 'blobs' && req.method === 'GET';
    for (const peer of this.lookups.providers(key, this.node)) {
      const url = `${this.peers.url(peer)}/v2/${dist.name}/${dist.kind}/${dist.reference}${dist.registry ? `?ns=${encodeURIComponent(dist.registry)}` : ''}`;
      let response;
      try {
        response = await this.peers.transport.request(url, {
          method: req.method ?? 'GET',
          headers: { [MIRRORED]: 'true', ...(req.headers.accept ? { accept: String(req.headers.accept) } : {}) },
        });
      } catch {
        this.counters.fallbacks.peerFailed++;
        continue;
      }
      if (response.status !== 200) {
        response.body.resume();
        this.counters.fallbacks.peerFailed++;
        continue;
      }
      const headers: Record<string, string> = {};
      for (const h of ['content-length', 'content-type', 'docker-content-digest']) {
        const v = response.headers.get(h);
        if (v !== null) headers[h] = v;
      }
      res.writeHead(200, headers);
      if (req.method === 'HEAD') {
        response.body.resume();
        res.end();
        return;
      }
      const expected = isDigest(dist.reference) ? dist.reference : response.headers.get('docker-content-digest');
      const hash = createHash('sha256');
      const check = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      try {
        await pipeline(response.body, check, res);
      } catch {
        this.counters.fallbacks.aborted++;
        res.destroy();
        return;
      }
      if (expected && `sha256:${hash.digest('hex')}` !== expected) this.counters.fallbacks.corrupt++;
      else if (blob) this.counters.fromPeers++;
      return;
    }
    // No peer had it, or none answered: containerd tries the next host.
    this.counters.fallbacks.miss++;
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'NOT_FOUND', message: `${key} not found on any peer` }] }));
  }
}
