import { randomBytes } from 'node:crypto';

/** Requests and bytes, by kind, since start or the last reset. */
export interface RegistryStats {
  manifestHead: number;
  manifestGet: number;
  blobGet: number;
  blobHead: number;
  token: number;
  upload: number;
  tooManyRequests: number;
  bytesServed: number;
  upstreamManifestGet?: number;
  upstreamBlobGet?: number;
  upstreamBytes?: number;
}

export function emptyStats(withUpstream: boolean): RegistryStats {
  const base: RegistryStats = {
    manifestHead: 0,
    manifestGet: 0,
    blobGet: 0,
    blobHead: 0,
    token: 0,
    upload: 0,
    tooManyRequests: 0,
    bytesServed: 0,
  };
  return withUpstream ? { ...base, upstreamManifestGet: 0, upstreamBlobGet: 0, upstreamBytes: 0 } : base;
}

const REQUEST_KINDS: Array<[keyof RegistryStats, string]> = [
  ['manifestHead', 'manifest_head'],
  ['manifestGet', 'manifest_get'],
  ['blobHead', 'blob_head'],
  ['blobGet', 'blob_get'],
  ['token', 'token'],
  ['upload', 'upload'],
];

/** Renders stats as OpenMetrics text (served on /metrics). */
export function toOpenMetrics(stats: RegistryStats): string {
  const lines: string[] = [
    '# TYPE pullbench_registry_requests counter',
    '# HELP pullbench_registry_requests Requests by kind.',
  ];
  for (const [key, kind] of REQUEST_KINDS) lines.push(`pullbench_registry_requests_total{kind="${kind}"} ${stats[key] ?? 0}`);
  lines.push(
    '# TYPE pullbench_registry_rate_limited counter',
    '# HELP pullbench_registry_rate_limited Requests answered 429 TOOMANYREQUESTS.',
    `pullbench_registry_rate_limited_total ${stats.tooManyRequests}`,
    '# TYPE pullbench_registry_served_bytes counter',
    '# HELP pullbench_registry_served_bytes Manifest and blob bytes sent to clients.',
    `pullbench_registry_served_bytes_total ${stats.bytesServed}`,
  );
  if (stats.upstreamManifestGet !== undefined) {
    lines.push(
      '# TYPE pullbench_registry_upstream_fetches counter',
      '# HELP pullbench_registry_upstream_fetches GETs sent to the upstream registry (mirror mode).',
      `pullbench_registry_upstream_fetches_total{kind="manifest"} ${stats.upstreamManifestGet}`,
      `pullbench_registry_upstream_fetches_total{kind="blob"} ${stats.upstreamBlobGet ?? 0}`,
      '# TYPE pullbench_registry_upstream_bytes counter',
      '# HELP pullbench_registry_upstream_bytes Blob bytes fetched from the upstream registry.',
      `pullbench_registry_upstream_bytes_total ${stats.upstreamBytes ?? 0}`,
    );
  }
  lines.push('# EOF', '');
  return lines.join('\n');
}

/**
 * Docker Hub-style pull limit: manifest GETs per client IP in a fixed window.
 * HEAD requests are free.
 */
export class PullRateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one pull; returns what remains (negative when over the limit). */
  take(client: string): number {
    const t = this.now();
    let w = this.windows.get(client);
    if (!w || t - w.start >= this.windowMs) {
      w = { start: t, count: 0 };
      this.windows.set(client, w);
    }
    w.count++;
    return this.limit - w.count;
  }

  remaining(client: string): number {
    const w = this.windows.get(client);
    if (!w || this.now() - w.start >= this.windowMs) return this.limit;
    return Math.max(0, this.limit - w.count);
  }

  headers(remaining: number): Record<string, string> {
    const seconds = Math.ceil(this.windowMs / 1000);
    return {
      'ratelimit-limit': `${this.limit};w=${seconds}`,
      'ratelimit-remaining': `${Math.max(0, remaining)};w=${seconds}`,
    };
  }
}

const FIELD = /(http\.request\.method|http\.request\.uri|http\.response\.status|http\.response\.written)=("[^"]*"|\S+)/g;

/**
 * Counts one line of distribution's log into `stats`: every request ends in a
 * `response completed` line with method, URI, status and bytes written.
 */
export function countAccessLogLine(line: string, stats: RegistryStats): void {
  if (!line.includes('response completed')) return;
  const f: Record<string, string> = {};
  for (const m of line.matchAll(FIELD)) f[m[1] ?? ''] = (m[2] ?? '').replace(/^"|"$/g, '');
  const method = f['http.request.method'];
  const path = (f['http.request.uri'] ?? '').split('?')[0] ?? '';
  const status = Number(f['http.response.status']);
  const written = Number(f['http.response.written'] ?? 0) || 0;
  if (!method || !path.startsWith('/v2/')) return;
  if (status === 429) stats.tooManyRequests++;
  if (/\/blobs\/uploads\//.test(path)) {
    stats.upload++;
  } else if (/\/manifests\/[^/]+$/.test(path)) {
    if (method === 'HEAD') stats.manifestHead++;
    else if (method === 'GET') {
      stats.manifestGet++;
      stats.bytesServed += written;
    }
  } else if (/\/blobs\/[^/]+$/.test(path)) {
    if (method === 'HEAD') stats.blobHead++;
    else if (method === 'GET') {
      stats.blobGet++;
      stats.bytesServed += written;
    }
  }
}

/** How far behind the marked request's line another request's line may still arrive (see caughtUp). */
const LOG_REORDER_GRACE_MS = 25;

/**
 * Lets a registry counted from its log (docker-registry, as a process or a
 * container) wait for its log to catch up. distribution writes a request's
 * `response completed` line after the response, so a client can have its
 * answer, and a rollout can end, before the line is read: counts read at once
 * came up short by a few requests (a 4-pod rollout counted 2 manifest HEADs
 * out of 4). `caughtUp()` sends one marked `GET /v2/` (counted as no kind)
 * after everything that was to be counted, and resolves when its
 * `response completed` line has been read and a short grace has passed
 * (lines come in order of completion, give or take a goroutine's scheduling
 * slice); or after `timeoutMs` in all, leaving the counts as they are,
 * when the registry does not answer or logs nothing for it.
 */
export class AccessLogMarker {
  private readonly waiting = new Map<string, () => void>();

  constructor(
    private readonly url: string,
    private readonly basic?: { username: string; password: string },
  ) {}

  /** Call with every log line. */
  seen(line: string): void {
    if (this.waiting.size === 0 || !line.includes('response completed')) return;
    for (const [mark, done] of this.waiting) {
      // Its `response completed` line: with auth, distribution logs an `authorized request` line for it first.
      if (line.includes(mark)) {
        this.waiting.delete(mark);
        done();
      }
    }
  }

  /** Resolves when the marked request's line is in, or after `timeoutMs` in all. */
  async caughtUp(timeoutMs = 2000): Promise<void> {
    const mark = `pullbench-mark=${randomBytes(8).toString('hex')}`;
    const seen = new Promise<void>((resolve) => this.waiting.set(mark, resolve));
    const deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      const headers: Record<string, string> = this.basic
        ? { authorization: `Basic ${Buffer.from(`${this.basic.username}:${this.basic.password}`).toString('base64')}` }
        : {};
      const res = await fetch(`${this.url}/v2/?${mark}`, { headers, signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer();
      const left = Math.max(0, deadline - Date.now());
      const marked = await Promise.race([seen.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), left)))]);
      // Each request logs from its own goroutine once its handler returns: one that answered just before the mark
      // can still be a scheduling slice behind it. A short grace covers that.
      if (marked) await new Promise((resolve) => setTimeout(resolve, LOG_REORDER_GRACE_MS));
    } catch {
      // Not answered: nothing to wait for, and the counts stay as read.
    } finally {
      clearTimeout(timer);
      this.waiting.delete(mark);
    }
  }
}

/**
 * The counters of a registry that has none of its own (docker-registry, as a
 * process or a container): its access log, line by line, into RegistryStats,
 * and the marker that lets a reader wait for the log to catch up.
 */
export class AccessLogStats {
  private counts: RegistryStats;
  private readonly marker: AccessLogMarker;

  constructor(
    url: string,
    private readonly withUpstream: boolean,
    basic?: { username: string; password: string },
  ) {
    this.counts = emptyStats(withUpstream);
    this.marker = new AccessLogMarker(url, basic);
  }

  /** Call with every log line. */
  line(line: string): void {
    countAccessLogLine(line, this.counts);
    this.marker.seen(line);
  }

  stats(): RegistryStats {
    return { ...this.counts };
  }

  reset(): void {
    this.counts = emptyStats(this.withUpstream);
  }

  caughtUp(): Promise<void> {
    return this.marker.caughtUp();
  }
}

/** Counters of several registries (or mirrors) added up: the total a run reports beside each one's. */
export function sumStats(all: readonly RegistryStats[]): RegistryStats {
  const out = emptyStats(all.some((s) => s.upstreamBytes !== undefined));
  for (const s of all) {
    for (const key of Object.keys(out) as (keyof RegistryStats)[]) out[key] = (out[key] ?? 0) + (s[key] ?? 0);
  }
  return out;
}
