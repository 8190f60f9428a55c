/** The request patterns `pullbench load` can send, named for the rollout they reproduce. */
export const LOAD_PROFILES = ['manifest-head', 'manifest-get', 'token', 'blob-get', 'mix'] as const;
export type LoadProfile = (typeof LOAD_PROFILES)[number];

/** What one request is, for per-kind counts (matches the registry's stats() counters). */
export const REQUEST_KINDS = ['manifestHead', 'manifestGet', 'blobGet', 'token'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** Relative weights of each kind in the `mix` profile; `blobGet` defaults to the image's blob count. */
export type MixWeights = Partial<Record<RequestKind, number>>;

/** Username and password (same shape as the registry client's). */
export interface LoadCredentials {
  username: string;
  password: string;
}

/** What to storm, how, and for how long. Bounded: a duration or an amount, never open-ended. */
export interface LoadSpec {
  /** Registry base URL, e.g. http://127.0.0.1:5000 (scheme + host[:port]). */
  registry: string;
  /** `repo:tag` (or `repo@digest`) inside that registry, e.g. `library/nginx:1.27`. */
  image: string;
  profile: LoadProfile;
  /** Concurrent connections. Default 10. */
  connections?: number;
  /** Seconds to run. Default 10 (ignored when `amount` is set). */
  durationSeconds?: number;
  /** Stop after this many requests instead of after a duration. */
  amount?: number;
  /** Requests per second across all connections (autocannon's overallRate); unset means as fast as possible. */
  rate?: number;
  credentials?: LoadCredentials | undefined;
  /** Platform chosen from an index, e.g. linux/amd64. Default: this host's. */
  platform?: string;
  mix?: MixWeights;
  /** Seconds before a request is abandoned and counted as an error. Default 10. */
  timeoutSeconds?: number;
}

/** Latency percentiles in milliseconds. */
export interface LatencyStats {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Counts for one request kind. */
export interface KindResult {
  requests: number;
  bytes: number;
  /** Responses with a 2xx status. */
  ok: number;
  /** Non-2xx responses, by status code. */
  byStatus: Record<string, number>;
}

/** The results of one load run. A stable, versioned shape meant to be embedded in run results. */
export interface LoadResult {
  schema: 'pullbench.load/v1';
  profile: LoadProfile;
  /** Registry base URL (never with credentials in it). */
  target: string;
  image: { repository: string; reference: string; manifestDigest: string; layers: number; layerBytes: number };
  /** `none`, `basic` or `bearer`: how requests were authorised. */
  auth: 'none' | 'basic' | 'bearer';
  connections: number;
  rate?: number;
  durationSeconds: number;
  startedAt: string;
  finishedAt: string;
  requests: { total: number; perSecond: number };
  throughput: { bytes: number; bytesPerSecond: number };
  latencyMs: LatencyStats;
  /** Connection errors and timeouts (no HTTP response). */
  errors: number;
  timeouts: number;
  /** Non-2xx responses, by status code. */
  non2xx: Record<string, number>;
  /** 429 Too Many Requests, counted separately (also included in non2xx). */
  tooManyRequests: number;
  byKind: Partial<Record<RequestKind, KindResult>>;
  /** Bearer tokens fetched during the run (refreshes before expiry). */
  tokenRefreshes: number;
  /** CPU time the load generator (this process) spent during the storm: when it nears durationSeconds x 1000, the generator, not the registry, was the limit. */
  generatorCpuMs?: number;
  /** Things that went wrong besides the counted responses, e.g. a failed token refresh. */
  warnings?: string[];
}
