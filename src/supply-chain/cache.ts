import type { RegistryClient } from '../oci/client.js';
import { parseReference } from '../oci/reference.js';
import { clientFor, findSignatures, resolveImage, type RegistryAccess, type ResolvedImage } from './registry.js';
import { decisionOf, type ImageVerification } from './image.js';
import { COSIGN_SIGN_PREDICATE, verifyCandidates, type Candidate, type VerifyOptions } from './verify.js';

/** A TTL map with an injected clock; expired entries are dropped when read. */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  constructor(private readonly now: () => number) {}

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    this.entries.set(key, { value, expires: this.now() + ttlMs });
  }

  get size(): number {
    return this.entries.size;
  }
}

export interface VerificationCacheOptions {
  access?: RegistryAccess;
  /** For tests and the embedded registry: one client for every reference. */
  client?: RegistryClient;
  /** Milliseconds; default Date.now. */
  now?: () => number;
  /** How long a verified result (and a tag's digest) is reused; default 5 minutes. */
  ttlMs?: number;
  /** How long a failed verification is reused (negative entry); default 30 s. */
  negativeTtlMs?: number;
}

export interface CacheStats {
  resolves: number;
  signatureFetches: number;
  verifications: number;
  hits: number;
}

/**
 * Verification with a cache keyed by (digest, policy, trust root): one image
 * deployed 10,000 times is resolved, fetched and verified once per TTL.
 * Concurrent requests for the same key share one in-flight verification.
 * Tag -> digest resolutions are cached with the same TTL; failures (negative
 * entries) for a shorter one.
 */
export class VerificationCache {
  private readonly now: () => number;
  private readonly ttl: number;
  private readonly negativeTtl: number;
  private readonly resolved: TtlCache<ResolvedImage>;
  private readonly candidates: TtlCache<Candidate[]>;
  private readonly results: TtlCache<ImageVerification>;
  private readonly inflight = new Map<string, Promise<unknown>>();
  readonly stats: CacheStats = { resolves: 0, signatureFetches: 0, verifications: 0, hits: 0 };

  constructor(private readonly opts: VerificationCacheOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.ttl = opts.ttlMs ?? 300_000;
    this.negativeTtl = opts.negativeTtlMs ?? 30_000;
    this.resolved = new TtlCache(this.now);
    this.candidates = new TtlCache(this.now);
    this.results = new TtlCache(this.now);
  }

  private once<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.inflight.get(key) as Promise<T> | undefined;
    if (running) return running;
    const p = fn().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private client(image: string): RegistryClient {
    return this.opts.client ?? clientFor(parseReference(image), this.opts.access);
  }

  /** Tag or digest -> resolved manifest (cached). Registry errors are thrown and not cached. */
  resolve(image: string): Promise<ResolvedImage> {
    const hit = this.resolved.get(image);
    if (hit) return Promise.resolve(hit);
    return this.once(`resolve|${image}`, async () => {
      this.stats.resolves++;
      const r = await resolveImage(this.client(image), image);
      this.resolved.set(image, r, this.ttl);
      return r;
    });
  }

  /**
   * Verifies `image` under `policyKey` (what the options mean: key, identities,
   * annotations) and `trustKey` (trust root fingerprint).
   */
  async verify(image: string, policyKey: string, trustKey: string, opts: VerifyOptions): Promise<ImageVerification> {
    const resolved = await this.resolve(image);
    const key = `${resolved.digest}|${policyKey}|${trustKey}`;
    const hit = this.results.get(key);
    if (hit) {
      this.stats.hits++;
      return hit;
    }
    return this.once(`verify|${key}`, async () => {
      const repoKey = `${resolved.ref.name}@${resolved.digest}`;
      let candidates = this.candidates.get(repoKey);
      if (!candidates) {
        this.stats.signatureFetches++;
        candidates = await findSignatures(this.client(image), resolved.ref.path, resolved.digest);
        this.candidates.set(repoKey, candidates, this.ttl);
      }
      this.stats.verifications++;
      const outcome = verifyCandidates(candidates, resolved.digest, resolved.manifestBytes, { predicateTypes: [COSIGN_SIGN_PREDICATE], ...opts });
      const decision = decisionOf(candidates.length, outcome.verified.length);
      const result: ImageVerification = { image: repoKey, digest: resolved.digest, decision, ...outcome };
      this.results.set(key, result, decision === 'verified' ? this.ttl : this.negativeTtl);
      return result;
    });
  }
}
