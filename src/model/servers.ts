import { PullbenchError } from '../errors.js';
import type { Clock } from '../core/clock.js';
import { emptyStats, PullRateLimiter, type RegistryStats } from '../registry/stats.js';
import type { ServerCalibration } from './calibration.js';
import type { FlowNetwork } from './flow-network.js';

export type RequestKind = 'manifestHead' | 'manifestGet' | 'blobHead' | 'blobGet';

/** One request as a server sees it: what, about which repository and reference, and the bytes it answers with. */
export interface ModelRequest {
  kind: RequestKind;
  repo: string;
  /** Tag or digest. */
  reference: string;
  bytes: number;
}

export interface ServerOptions {
  calibration: ServerCalibration;
  rateLimit?: { manifestGets: number; windowMs: number };
  faults?: { errorRate: number; latencyMs: number };
  /** Seeded: the same seed draws the same faults in the same request order. */
  random: () => number;
}

/**
 * The embedded registry as a queue: `concurrency` requests served at once, each
 * for the calibrated service time (its body then leaves as a flow over the
 * server's egress link). Faults and the Docker Hub-like rate limit are applied
 * where src/registry/app.ts applies them: faults first, the limit on manifest
 * GETs (a HEAD never spends it); all nodes reach it from one address, so they
 * are one client of the limit, as on 127.0.0.1.
 */
export class ModelRegistry {
  readonly stats: RegistryStats;
  /** When each of the `concurrency` servers is next free: a FIFO of fixed service times needs no queue of waiters. */
  private readonly freeAt: Float64Array;
  private readonly limiter: PullRateLimiter | undefined;

  constructor(
    protected readonly clock: Clock,
    private readonly opts: ServerOptions,
    withUpstream = false,
  ) {
    this.stats = emptyStats(withUpstream);
    this.freeAt = new Float64Array(opts.calibration.concurrency).fill(-Infinity);
    this.limiter = opts.rateLimit ? new PullRateLimiter(opts.rateLimit.manifestGets, opts.rateLimit.windowMs, () => clock.now()) : undefined;
  }

  /** Serves one request up to its first byte; throws the client's error for a fault or a 429. */
  async handle(req: ModelRequest): Promise<void> {
    this.count(req);
    await this.clock.sleep(this.served());
    const { faults } = this.opts;
    if (faults && faults.latencyMs > 0) await this.clock.sleep(faults.latencyMs);
    if (faults && faults.errorRate > 0 && this.opts.random() < faults.errorRate) {
      throw failure(req, 503, 'UNAVAILABLE: injected fault: service unavailable');
    }
    await this.lookup(req);
    if ((req.kind === 'manifestHead' || req.kind === 'manifestGet') && this.limiter) {
      const remaining = req.kind === 'manifestHead' ? this.limiter.remaining('nodes') : this.limiter.take('nodes');
      if (remaining < 0) {
        this.stats.tooManyRequests++;
        throw failure(req, 429, 'TOOMANYREQUESTS: pull rate limit exceeded');
      }
    }
    if (req.kind === 'manifestGet' || req.kind === 'blobGet') this.stats.bytesServed += req.bytes;
  }

  // The request takes the server free first, in arrival order (as TaskQueue's FIFO would): ms until its service ends.
  private served(): number {
    let first = 0;
    for (let i = 1; i < this.freeAt.length; i++) if (this.freeAt[i]! < this.freeAt[first]!) first = i;
    const now = this.clock.now();
    const end = Math.max(now, this.freeAt[first]!) + this.opts.calibration.serviceMs;
    this.freeAt[first] = end;
    return end - now;
  }

  // A mirror fills its cache here; the registry has every seeded image.
  protected async lookup(_req: ModelRequest): Promise<void> {
    /* everything is present */
  }

  private count(req: ModelRequest): void {
    this.stats[req.kind]++;
  }
}

export interface UpstreamWay {
  registry: ModelRegistry;
  network: FlowNetwork;
  /** Route index of the mirror's upstream link in the network. */
  route: number;
  /** One-way latency of the upstream link. */
  latencyMs: number;
}

/**
 * The embedded mirror (src/registry/mirror.ts) as a model: a tag is checked
 * upstream on every request (a HEAD, concurrent ones for one tag coalesced) and
 * its manifest fetched when the digest is new; manifests and blobs are cached by
 * digest; concurrent misses for one blob follow one upstream fetch, and a blob
 * streams to its first clients while it arrives (a node's copy ends no earlier
 * than the upstream one).
 */
export class ModelMirror extends ModelRegistry {
  private readonly cached = new Set<string>();
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(
    clock: Clock,
    opts: ServerOptions,
    private readonly upstream: UpstreamWay,
    /** Tag -> manifest digest, for a tag's refresh. */
    private readonly tags: ReadonlyMap<string, { digest: string; bytes: number }>,
  ) {
    super(clock, opts, true);
  }

  /** Settles when the blob is whole on the mirror (at once when cached). */
  blobReady(digest: string): Promise<void> {
    return this.inflight.get(digest) ?? Promise.resolve();
  }

  protected override async lookup(req: ModelRequest): Promise<void> {
    const isDigest = req.reference.startsWith('sha256:');
    if (req.kind === 'blobGet') {
      if (!this.cached.has(req.reference)) void this.coalesced(req.reference, () => this.fetchUpstream({ ...req }));
      return;
    }
    if (isDigest) {
      if (!this.cached.has(req.reference)) await this.coalesced(req.reference, () => this.fetchUpstream({ ...req, kind: 'manifestGet' }));
      return;
    }
    const key = `${req.repo}:${req.reference}`;
    await this.coalesced(`tag ${key}`, async () => {
      await this.upstreamRequest({ ...req, kind: 'manifestHead', bytes: 0 });
      const target = this.tags.get(key);
      if (target && !this.cached.has(target.digest)) {
        await this.fetchUpstream({ kind: 'manifestGet', repo: req.repo, reference: target.digest, bytes: target.bytes });
      }
    });
  }

  private coalesced(key: string, fetch: () => Promise<void>): Promise<void> {
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = fetch().finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
      pending.catch(() => undefined);
    }
    return pending;
  }

  private async fetchUpstream(req: ModelRequest): Promise<void> {
    await this.upstreamRequest(req);
    this.cached.add(req.reference);
  }

  // The mirror's client keeps its connections: a request costs a round trip, the service and the body.
  private async upstreamRequest(req: ModelRequest): Promise<void> {
    const { registry, network, route, latencyMs } = this.upstream;
    if (req.kind === 'manifestGet') this.stats.upstreamManifestGet! += 1;
    if (req.kind === 'blobGet') this.stats.upstreamBlobGet! += 1;
    if (latencyMs > 0) await this.clock.sleep(latencyMs);
    try {
      await registry.handle(req);
    } catch (err) {
      throw upstreamFailure(req, err);
    }
    if (latencyMs > 0) await this.clock.sleep(latencyMs);
    if (req.kind !== 'manifestHead') {
      await network.transfer(0, route, req.bytes);
      this.stats.upstreamBytes! += req.bytes;
    }
  }
}

function what(req: ModelRequest): string {
  return req.kind === 'blobGet' || req.kind === 'blobHead' ? `blob ${req.repo}@${req.reference}` : `manifest ${req.repo}:${req.reference}`;
}

// The error the node's registry client raises for this answer (src/oci/client.ts fail(); a HEAD has no body).
function failure(req: ModelRequest, status: number, detail: string): PullbenchError {
  const code = status === 429 ? 'REGISTRY_TOO_MANY_REQUESTS' : 'REGISTRY_ERROR';
  const head = req.kind === 'manifestHead' || req.kind === 'blobHead';
  return new PullbenchError(code, `${what(req)}: ${head ? `HTTP ${status}` : detail}`, { details: { status } });
}

// A mirror answers 502 for an upstream it could not use (mirror.ts upstreamFailed), 503 passed on as its own fault.
function upstreamFailure(req: ModelRequest, err: unknown): PullbenchError {
  const status = err instanceof PullbenchError ? err.details.status : undefined;
  if (status === 429) return failure(req, 429, 'TOOMANYREQUESTS: pull rate limit exceeded');
  return failure(req, 502, 'UNAVAILABLE: upstream registry request failed');
}
