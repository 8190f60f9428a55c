import type { Clock } from '../core/clock.js';
import { PullbenchError } from '../errors.js';
import { ContentIndex, CONTENT_POLL_MS, LookupCache } from '../node/p2p/content-index.js';
import { isDigest } from '../node/p2p/distribution-path.js';
import { emptyFallbacks, type P2pStats, type PeerLinkOptions, type WholeBlobOptions } from '../node/p2p/options.js';
import { PeerFlows } from './peer-flows.js';
import type { ModelP2p } from './p2p.js';
import type { ModelRequest } from './servers.js';

/** Connections a node's agent keeps idle per peer (PeerNetwork's peer pool: maxIdlePerHost 32). */
const IDLE_PER_PEER = 32;

/**
 * Whole-blob P2P (Spegel) in the flow model: what src/node/p2p/spegel-agent.ts does for a live node, on the virtual
 * clock. The same ContentIndex (who holds what, visible advertiseDelay after the advertisement, providers in seeded
 * random order); each node's agent first in its hosts (the model runtime lists it so):
 * - a blob or manifest is advertised when the node's store commits it, at the agent's next look at the store
 *   (ContentWatch polls every CONTENT_POLL_MS; each node's poll has its own phase, drawn once);
 * - an image's tag is advertised when the node's runtime creates it (with resolveTags), and the node's own agent
 *   answers a resolve of a tag its node holds from the node itself (Always on a node that has the image);
 * - a request looks the key up (the lookup cache: an answer kept lookupCacheTtl, refreshed after half of it unless it
 *   already had resolveRetries peers), tries those peers in turn, each a request over the peer link (the handshake
 *   on a new connection, a round trip, the body as a flow over the peer's upload and this node's download), and
 *   answers 404 when none had it, so that the runtime falls through to the next host, as containerd does.
 * Faults on peers (p2p.faults) are not modelled: the scenario loader refuses them for the model.
 */
export class ModelSpegel implements ModelP2p {
  readonly index: ContentIndex;
  readonly resolves: boolean;
  readonly flows: PeerFlows;
  private readonly tags: Set<string>[];
  private readonly held: Set<string>[];
  private readonly lookups: LookupCache[];
  private readonly idle: Map<number, number>[];
  private readonly pollPhase: number[];
  private readonly counters = { wanted: 0, fromPeers: 0, fallbacks: emptyFallbacks() };

  constructor(
    private readonly clock: Clock,
    nodes: number,
    private readonly opts: WholeBlobOptions,
    private readonly link: PeerLinkOptions,
    random: () => number,
  ) {
    this.resolves = opts.resolveTags;
    this.index = new ContentIndex(clock, opts.advertiseDelayMs, random);
    this.flows = new PeerFlows(clock, nodes, link.upload / 1000, link.download / 1000);
    this.tags = Array.from({ length: nodes }, () => new Set());
    this.held = Array.from({ length: nodes }, () => new Set());
    this.lookups = Array.from({ length: nodes }, () => new LookupCache(this.index, clock, opts.lookupCacheTtlMs, opts.resolveRetries));
    this.idle = Array.from({ length: nodes }, () => new Map());
    this.pollPhase = Array.from({ length: nodes }, () => random() * CONTENT_POLL_MS);
  }

  /** Node `node`'s store committed `digest`: its agent sees it at its next poll and advertises it. */
  committed(node: number, digest: string): void {
    this.held[node]!.add(digest);
    const since = (this.clock.now() - this.pollPhase[node]!) % CONTENT_POLL_MS;
    const wait = since === 0 ? 0 : CONTENT_POLL_MS - since;
    this.clock.setTimer(() => this.index.advertise(node, digest), wait);
  }

  /** Node `node`'s runtime created image `repo:tag` (containerd's /images/create event). */
  imageCreated(node: number, repo: string, tag: string): void {
    if (!this.opts.resolveTags) return;
    const key = tagKey(repo, tag);
    this.tags[node]!.add(key);
    this.index.advertise(node, key);
  }

  /** Node `node`'s runtime asks its agent; resolves when the answer is whole, throws a 404 for the next host. */
  async request(node: number, req: ModelRequest): Promise<void> {
    const tag = !isDigest(req.reference);
    const key = tag ? tagKey(req.repo, req.reference) : req.reference;
    if (req.kind === 'blobGet') this.counters.wanted++;
    // The node's own store (registryHandler's local path): a tag of an image it holds; a digest it holds is never
    // asked for, since the runtime looks in its store first.
    if (tag ? this.tags[node]!.has(key) : this.held[node]!.has(key)) return;
    for (const peer of this.lookups[node]!.providers(key, node)) {
      const idle = this.idle[node]!.get(peer) ?? 0;
      if (idle > 0) this.idle[node]!.set(peer, idle - 1);
      const latency = this.link.latencyMs;
      const handshake = idle === 0 ? 2 * latency : 0;
      try {
        if (handshake + latency > 0) await this.clock.sleep(handshake + latency);
        // Only what the peer's own store holds is served to a peer (X-Spegel-Mirrored).
        if (!(tag ? this.tags[peer]!.has(key) : this.held[peer]!.has(key))) {
          if (latency > 0) await this.clock.sleep(latency);
          this.counters.fallbacks.peerFailed++;
          continue;
        }
        if (latency > 0) await this.clock.sleep(latency);
        if (req.kind !== 'manifestHead') await this.flows.transfer(peer, node, req.bytes);
        if (req.kind === 'blobGet') this.counters.fromPeers++;
        return;
      } finally {
        this.idle[node]!.set(peer, Math.min(IDLE_PER_PEER, (this.idle[node]!.get(peer) ?? 0) + 1));
      }
    }
    this.counters.fallbacks.miss++;
    const what = req.kind === 'blobGet' ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN';
    throw new PullbenchError(what, `${req.repo}@${req.reference}: ${key} not found on any peer`, { details: { status: 404 } });
  }

  /** What the agents did (results.json `p2p`). */
  stats(): P2pStats {
    return {
      mode: 'whole-blob',
      uploadedByNode: [...this.flows.uploaded],
      peerBytes: this.flows.received,
      wanted: this.counters.wanted,
      fromPeers: this.counters.fromPeers,
      sourceBytes: 0,
      backToSourcePeers: 0,
      fallbacks: { ...this.counters.fallbacks },
      killed: 0,
      corrupting: 0,
    };
  }
}

const tagKey = (repo: string, tag: string): string => `${repo}:${tag}`;
