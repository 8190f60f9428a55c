import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';

/**
 * Who holds what: the whole-blob mode's stand-in for Spegel's DHT (pkg/routing/libp2p/libp2p.go). A node advertises
 * a key (a digest, or a tag name) when its content store commits it (routing/sync.go: Sync advertises on each store
 * create event); the record reaches the others `advertiseDelay` later (the DHT provide); a node withdraws all it
 * holds when its agent stops. Providers come back in random order, as FindProvidersAsync's do.
 */
export class ContentIndex {
  private readonly holders = new Map<string, Map<number, number>>();

  constructor(
    private readonly clock: Clock,
    private readonly advertiseDelayMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  advertise(node: number, key: string): void {
    let h = this.holders.get(key);
    if (!h) this.holders.set(key, (h = new Map()));
    if (!h.has(node)) h.set(node, this.clock.now() + this.advertiseDelayMs);
  }

  withdrawAll(node: number): void {
    for (const h of this.holders.values()) h.delete(node);
  }

  /** Up to `count` nodes other than `self` whose advertisement of `key` is visible now. */
  providers(key: string, self: number, count: number): number[] {
    const h = this.holders.get(key);
    if (!h) return [];
    const now = this.clock.now();
    const out: number[] = [];
    for (const [node, visibleAt] of h) if (node !== self && visibleAt <= now) out.push(node);
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out.slice(0, count);
  }
}

/**
 * One node's lookups of the index, cached as Spegel caches them (pkg/routing/libp2p/libp2p.go: lookupCacheTTL): an
 * answer is kept `ttlMs`, and asked again after half of it unless it already had the `count` peers wanted, so a miss
 * stays a miss that long.
 */
export class LookupCache {
  private readonly answers = new Map<string, { at: number; peers: number[] }>();

  constructor(
    private readonly index: ContentIndex,
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly count: number,
  ) {}

  /** Up to `count` peers of `self` holding `key`, from the cache while its answer holds. */
  providers(key: string, self: number): number[] {
    const now = this.clock.now();
    const cached = this.answers.get(key);
    if (cached && now - cached.at < this.ttlMs && (now - cached.at < this.ttlMs / 2 || cached.peers.length >= this.count)) return cached.peers;
    const peers = this.index.providers(key, self, this.count);
    this.answers.set(key, { at: now, peers });
    return peers;
  }
}

/** How often an agent looks for newly committed blobs in its node's content store. */
export const CONTENT_POLL_MS = 50;

/**
 * Committed blobs appearing in a content store in containerd's layout (blobs/<alg>/<hex>; a blob is renamed into
 * place once verified and synced, so a listed name is committed content): containerd's /content/create event, which
 * Spegel subscribes to (pkg/oci/containerd/containerd.go: Watch). Polled, for the embedded runtime and a real
 * containerd alike; CONTENT_POLL_MS is the most it adds to the advertisement.
 */
export class ContentWatch {
  private readonly seen = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly root: () => string | undefined,
    private readonly onCommitted: (digest: string) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.scan(), CONTENT_POLL_MS);
    this.timer.unref();
  }

  has(digest: string): boolean {
    return this.seen.has(digest);
  }

  /** Looks now (a request for a blob not seen yet may find it committed since the last poll). */
  async scan(): Promise<void> {
    const root = this.root();
    if (root === undefined || this.busy) return;
    this.busy = true;
    try {
      const names = await readdir(join(root, 'blobs', 'sha256')).catch(() => [] as string[]);
      for (const name of names) {
        if (!/^[a-f0-9]{64}$/.test(name)) continue;
        const digest = `sha256:${name}`;
        if (this.seen.has(digest)) continue;
        this.seen.add(digest);
        this.onCommitted(digest);
      }
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** The file of a committed blob in a content store in containerd's layout. */
export function blobFile(root: string, digest: string): string {
  const [alg, hex] = digest.split(':') as [string, string];
  return join(root, 'blobs', alg, hex);
}
