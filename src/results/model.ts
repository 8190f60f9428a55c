/**
 * The results model: what `pullbench run` writes to results.json and what
 * `report` and `compare` read. Types only; aggregation, thresholds and the
 * failure-rate gate are beside it in this folder.
 */
import type { StormAggregate, StormRun } from '../load/stage.js';
import type { PodTimeline } from '../measure/timeline.js';
import type { RunConditions } from '../measure/conditions.js';
import type { ForwardProxyStats } from '../net/forward-proxy.js';
import type { ProcessUsage, UsageAggregate } from '../measure/usage.js';
import type { Distribution, MeanWithCi } from '../measure/stats.js';
import type { RegistryStats } from '../registry/stats.js';
import type { Arm } from '../scenario/matrix.js';
import type { P2pFallbacks, P2pStats } from '../node/p2p/index.js';
import type { Metric } from '../scenario/schema.js';
import type { CacheStats } from '../supply-chain/cache.js';
import type { RuleResult } from '../supply-chain/admission.js';
import type { SignFormat } from '../supply-chain/sign.js';
import type { EnvironmentInfo } from '../util/environment.js';

/** Bumped on any incompatible change of the results file. */
export const RESULTS_SCHEMA_VERSION = 1;

/** What one repetition of one arm measured, straight from the run. */
export interface Repetition {
  index: number;
  startedAt: number;
  /** From the first pod created to the last step settled. */
  rolloutDurationMs: number;
  steps: { name: string; durationMs: number; completed: boolean; timedOut: boolean; failedFast?: { cause: string; message: string } }[];
  /** With cluster.pools, each pod names its node's pool. */
  pods: (PodTimeline & { pool?: string })[];
  /** The registries' counters added up (several registries), or the one registry's. */
  registry: RegistryStats;
  mirror?: RegistryStats;
  /** With `registries:`: each registry's counters and its mirror's, by registry name. */
  registries?: Record<string, { registry: RegistryStats; mirror?: RegistryStats }>;
  /** With cluster.pools: each pool's node count and the bytes its nodes' links carried, by pool name. */
  pools?: Record<string, { nodes: number; linkBytes: { registry: number; mirror: number; peers?: number } }>;
  /** Bytes the shaped links carried down to the nodes, by source. */
  linkBytes?: { registry: number; mirror: number; peers?: number };
  /** Topology p2p: what the nodes' P2P agents did (uploads per node, hits, fallbacks). */
  p2p?: P2pStats;
  /** Warm arms: every node held every image before the rollout (checked, not assumed). */
  cacheVerified?: boolean;
  /** Emulated clusters: what the pullbench process spent during the rollout (CPU, memory, event loop), and its share per node. */
  usage?: ProcessUsage;
  /** The scenario's load: stage: what each storm sent beside the rollout (registry/mirror stats above include it). */
  load?: StormRun[];
  /** The scenario's faults: their windows in this repetition, and the requests the fault fronts met with one, by kind. */
  faults?: { windows: FaultRun[]; faulted: Record<string, number> };
  /** The proxy hop: requests forwarded, tunnels, 407s, by target as the nodes named it. */
  proxy?: ForwardProxyStats;
}

/** A scenario fault as it fell in one repetition (ms since the epoch). */
export interface FaultRun {
  target: string;
  kind: string | number;
  startedAt: number;
  endedAt: number;
  /** A real cluster's fault: what was done to the registry's container (`docker stop`, `docker pause`). */
  action?: string;
}

export interface ArmResult {
  arm: Arm;
  repetitions: Repetition[];
  aggregate: ArmAggregate;
}

/** What a registry and its mirror served (or all of them, added up), per repetition, averaged. */
export interface RegistryAggregate {
  bytes: { registry: number; mirror: number };
  requests: { registryManifestGet: number; registryManifestHead: number; registryBlobGet: number; mirrorManifestGet: number; mirrorBlobGet: number };
  /** Manifest GETs that reached the registry, as Docker Hub counts pulls (per repetition, averaged). */
  upstreamPulls: number;
  tooManyRequests: number;
  /** Share of blob requests the mirror served from its cache. */
  mirrorHitRatio?: number;
}

/** The pod figures of one node pool, pooled over repetitions as the arm's are, and the bytes over its nodes' links. */
export interface PoolAggregate {
  nodes: number;
  pods: number;
  pull?: Distribution;
  pullWithWaiting?: Distribution;
  pullMean?: MeanWithCi;
  alreadyPresent: number;
  failures: ArmAggregate['failures'];
  /** Per repetition, averaged. */
  linkBytes: { registry: number; mirror: number };
}

export interface ArmAggregate {
  pods: number;
  /** Pods with a pull (not already present), pooled over repetitions. */
  pull?: Distribution;
  pullWithWaiting?: Distribution;
  /** Mean over repetitions of the per-repetition mean pull time, with its 95% CI. */
  pullMean?: MeanWithCi;
  rolloutDuration?: MeanWithCi;
  alreadyPresent: number;
  failures: {
    total: number;
    unexpected: number;
    byReason: Record<string, number>;
    rate: number;
    /** Failed pull attempts by cause (src/measure/pull-cause.ts), per repetition, averaged; absent in results before it. */
    byCause?: Record<string, number>;
  };
  /** With faults: time from the last fault window's end until every pod meant to run was Ready (null: never, within the step). */
  recovery?: { ms?: MeanWithCi; perRepetition: (number | null)[]; notRecovered: number };
  /** Per repetition, averaged. */
  bytes: { registry: number; mirror: number; nodeCache: number; peers?: number };
  requests: RegistryAggregate['requests'];
  /** Manifest GETs that reached the registry, as Docker Hub counts pulls (per repetition, averaged). */
  upstreamPulls: number;
  tooManyRequests: number;
  /** Share of blob requests the mirror served from its cache. */
  mirrorHitRatio?: number;
  /** Topology p2p, per repetition averaged: see P2pAggregate. */
  p2p?: P2pAggregate;
  /** Emulated clusters: process CPU and memory during the rollouts, per node (see src/measure/usage.ts for what is measured). */
  usage?: UsageAggregate;
  /** The load: stage, one row per storm and image, when the arm ran storms. */
  load?: StormAggregate[];
  /** With cluster.pools: the pod figures of each pool, by pool name (they add up to the arm's). */
  byPool?: Record<string, PoolAggregate>;
  /** With registries: what each registry and its mirror served, by registry name (they add up to the arm's). */
  byRegistry?: Record<string, RegistryAggregate>;
}

/** A p2p arm's figures, per repetition averaged. */
export interface P2pAggregate {
  mode: P2pStats['mode'];
  /** Bytes the nodes took from the registry over their links / all bytes they pulled over links (registry + peers). */
  backToSourceRatio: number;
  /** Blob requests (whole-blob) or pieces (pieces) that peers served / all the nodes asked for. */
  peerHitRatio: number;
  /** Bytes each node uploaded to its peers: median and largest node. */
  uploadP50: number;
  uploadMax: number;
  /** Every node's upload, the repetitions pooled (the report's spread). */
  uploads: number[];
  fallbacks: P2pFallbacks;
  backToSourcePeers: number;
}

export interface ThresholdResult {
  arm: string;
  metric: Metric;
  percentile?: number;
  max: number;
  actual: number | undefined;
  passed: boolean;
  /** Stable across runs, e.g. `IfNotPresent/mirror/cold pull p95 <= 5.00s` (JUnit testcase name). */
  name: string;
  /** e.g. `IfNotPresent/mirror/cold pull p95 1.2s <= 5s` */
  description: string;
}

/** One verify-stage decision, per scenario image a rollout uses. */
export interface SupplyChainImage {
  /** The scenario ref, e.g. demo/app:v1. */
  image: string;
  digest?: string;
  decision: 'allow' | 'deny' | 'warn';
  /** Rolled out: allow, warn, or any decision under mode warn. */
  admitted: boolean;
  /** The reason of every rule that did not pass (or of the passing ones when all passed). */
  reasons: string[];
  rules: RuleResult[];
  /** The authority whose signature check passed, e.g. `scenario-key/signing`. */
  signer?: string;
  /** Every rollout of this image has `expect: failure`: a denial is what the scenario wants. */
  expectDenial: boolean;
  /** Signed by this run's signing stage. */
  signed?: { format: SignFormat; keyId: string };
}

/** The results file's `supplyChain` block. */
export interface SupplyChainResult {
  mode: 'enforce' | 'warn';
  signing?: { format: SignFormat; key: 'given' | 'generated'; keyId: string; images: string[] };
  images: SupplyChainImage[];
  cache: CacheStats;
  durationMs: number;
}

export interface RunResults {
  schemaVersion: typeof RESULTS_SCHEMA_VERSION;
  kind: 'pullbench.results';
  scenario: { name: string; file: string; spec: unknown };
  startedAt: string;
  finishedAt: string;
  /** `conditions`: how busy the machine was during the run (absent in results from before it was recorded). */
  environment: EnvironmentInfo & { registry: string; mirror?: string; cluster: Record<string, string>; conditions?: RunConditions };
  arms: ArmResult[];
  thresholds: ThresholdResult[];
  gate: { failureRate: number; max: number; passed: boolean };
  /** The signing and verify stages, when the scenario has them. */
  supplyChain?: SupplyChainResult;
  /** Driver model: the run was modelled in virtual time, not emulated; with the calibration it used (docs/model.md). */
  model?: ModelledRun;
  /** scale.bytes: layers and link bandwidths were scaled by this factor; byte counts in this file are as measured (scaled). */
  scale?: { bytes: number; byteCounts: 'measured' };
  passed: boolean;
}

/** How a modelled run was made: its clock, its network model and the server calibration (src/model/calibration.ts). */
export interface ModelledRun {
  clock: 'virtual';
  network: 'max-min fair flows';
  calibration: {
    measuredAt: string;
    method: string;
    machine: Record<string, string | number>;
    registry: { serviceMs: number; concurrency: number; egressBytesPerMs: number };
    mirror: { serviceMs: number; concurrency: number; egressBytesPerMs: number };
  };
}
