import type { RegistryClient } from '../oci/client.js';
import { parseReference } from '../oci/reference.js';
import { readAttestations, verifyAttestationCandidates, type AttestationOptions, type AttestationVerification } from './attestation.js';
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
  /** Several registries, each with a client of its own (its credentials): the one for a reference, else `client`. */
  clients?: (image: string) => RegistryClient | undefined;
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
  private readonly attestationCandidates: TtlCache<Candidate[]>;
  private readonly attestationResults: TtlCache<AttestationVerification>;
  private readonly inflight = new Map<string, Promise<unknown>>();
  readonly stats: CacheStats = { resolves: 0, signatureFetches: 0, verifications: 0, hits: 0 };

  constructor(private readonly opts: VerificationCacheOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.ttl = opts.ttlMs ?? 300_000;
    this.negativeTtl = opts.negativeTtlMs ?? 30_000;
    this.resolved = new TtlCache(this.now);
    this.candidates = new TtlCache(this.now);
    this.results = new TtlCache(this.now);
    this.attestationCandidates = new TtlCache(this.now);
    this.attestationResults = new TtlCache(this.now);
  }

  private once<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.inflight.get(key) as Promise<T> | undefined;
    if (running) return running;
    const p = fn().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private client(image: string): RegistryClient {
    return this.opts.clients?.(image) ?? this.opts.client ?? clientFor(parseReference(image), this.opts.access);
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

  // One cached, coalesced verification: candidates fetched once per image and TTL, results kept per key.
  private async cachedVerification<R extends { decision: string }>(
    kind: 'verify' | 'attest',
    image: string,
    policyKey: string,
    trustKey: string,
    results: TtlCache<R>,
    candidatesCache: TtlCache<Candidate[]>,
    fetch: (client: RegistryClient, resolved: ResolvedImage) => Promise<Candidate[]>,
    decide: (candidates: Candidate[], resolved: ResolvedImage) => R,
  ): Promise<R> {
    const resolved = await this.resolve(image);
    const key = `${resolved.digest}|${policyKey}|${trustKey}`;
    const hit = results.get(key);
    if (hit) {
      this.stats.hits++;
      return hit;
    }
    return this.once(`${kind}|${key}`, async () => {
      const repoKey = `${resolved.ref.name}@${resolved.digest}`;
      let candidates = candidatesCache.get(repoKey);
      if (!candidates) {
        this.stats.signatureFetches++;
        candidates = await fetch(this.client(image), resolved);
        candidatesCache.set(repoKey, candidates, this.ttl);
      }
      this.stats.verifications++;
      const result = decide(candidates, resolved);
      results.set(key, result, result.decision === 'verified' ? this.ttl : this.negativeTtl);
      return result;
    });
  }

  /**
   * Verifies `image` under `policyKey` (what the options mean: key, identities,
   * annotations) and `trustKey` (trust root fingerprint).
   */
  verify(image: string, policyKey: string, trustKey: string, opts: VerifyOptions): Promise<ImageVerification> {
    return this.cachedVerification(
      'verify',
      image,
      policyKey,
      trustKey,
      this.results,
      this.candidates,
      (client, r) => findSignatures(client, r.ref.path, r.digest),
      (candidates, r) => {
        const outcome = verifyCandidates(candidates, r.digest, r.manifestBytes, { predicateTypes: [COSIGN_SIGN_PREDICATE], ...opts });
        return { image: `${r.ref.name}@${r.digest}`, digest: r.digest, decision: decisionOf(candidates.length, outcome.verified.length), ...outcome };
      },
    );
  }

  /**
   * The verified attestations of `image` (attestation.ts) under `policyKey`
   * (key, identities and `--type`) and `trustKey`, cached like signatures.
   */
  attestations(image: string, policyKey: string, trustKey: string, opts: AttestationOptions): Promise<AttestationVerification> {
    return this.cachedVerification(
      'attest',
      image,
      policyKey,
      trustKey,
      this.attestationResults,
      this.attestationCandidates,
      (client, r) => readAttestations(client, r.ref.path, r.digest),
      (candidates, r) => ({ image: `${r.ref.name}@${r.digest}`, digest: r.digest, ...verifyAttestationCandidates(candidates, r.digest, opts) }),
    );
  }
}
