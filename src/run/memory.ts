import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { PullbenchError } from '../errors.js';
import { expandArms } from '../scenario/matrix.js';
import { scenarioPools } from '../scenario/fleet.js';
import type { Scenario } from '../scenario/schema.js';
import { emulationWorkers } from '../node/runtimes/worker-runtimes.js';
import { formatBytes } from '../util/units.js';

const MB = 1024 * 1024;

/**
 * Costs measured through `pullbench run` (docs/scale.md#memory has the runs, the machine and how to measure again).
 * Heap: the main thread's V8 heap, which holds the kubelets, the pods and the record; RSS adds the worker threads
 * (their own heaps) and buffers outside any heap.
 */
export const MEMORY_COSTS = {
  /** Main-thread heap before any node starts: modules, the registry, the seeded index (measured 31 MB). */
  heapBaseBytes: 32 * MB,
  /** RSS outside the main heap before any node starts: code, buffers, the thread pool (measured 84 MB). */
  rssBaseBytes: 84 * MB,
  /** Main heap per emulated node: its kubelet, its runtime's handle (measured 31 KB from 250 to 1,000 nodes). */
  heapPerNodeBytes: 32 * 1024,
  /**
   * RSS per emulated node beyond the main heap: its runtime in a worker thread (the threads' own heaps folded in),
   * its links and sockets (measured 2.1 MB from 250 to 1,000 nodes, 10 images' worth of inflate-only pulls).
   */
  rssPerNodeBytes: 2.1 * MB,
  /** Main heap per node of the model driver: a kubelet and a model runtime, no sockets. */
  heapPerModelNodeBytes: 32 * 1024,
  /** Main heap per pod of the repetition under way: its record in the cluster, its kubelet events. */
  heapPerLivePodBytes: 4 * 1024,
  /** Main heap per pod record kept (every arm and repetition's timelines, results.json's text) (with the above: 11-13 KB measured). */
  heapPerRecordedPodBytes: 12 * 1024,
  /** RSS beyond the heap per pod record: the young generation and fragmentation a larger heap brings (measured ~4-8 KB). */
  rssPerRecordedPodBytes: 4 * 1024,
} as const;

/** What a run is estimated to need, and from what. */
export interface MemoryEstimate {
  nodes: number;
  /** Pods one repetition creates (every step's). */
  podsPerRepetition: number;
  /** Pods the results keep: per repetition, times arms, times repeat. */
  recordedPods: number;
  arms: number;
  workers: number;
  /** The main thread's heap at its peak. */
  heapBytes: number;
  /** The whole process (every thread). */
  rssBytes: number;
}

export interface MemoryLimits {
  /** V8's heap limit of the main thread (--max-old-space-size moves it). */
  heapLimitBytes: number;
  totalMemoryBytes: number;
}

/** Pods one repetition creates: a deployment its replicas, a daemonSet a pod per node of its pool, an update its target's count again. */
export function podsPerRepetition(scenario: Scenario): number {
  const pools = scenarioPools(scenario);
  const all = pools.reduce((n, p) => n + p.nodes, 0);
  const count = new Map<string, number>();
  let pods = 0;
  for (const r of scenario.rollouts) {
    let n: number;
    if (r.deployment) n = r.deployment.replicas;
    else if (r.daemonSet) n = r.daemonSet.pool ? (pools.find((p) => p.name === r.daemonSet!.pool)?.nodes ?? 0) : all;
    else n = count.get(r.update!.target) ?? 0;
    count.set(r.name, n);
    pods += n;
  }
  return pods;
}

/** The run's memory from its node count, pods, arms and repetitions, store and driver (real clusters hold no nodes here). */
export function estimateMemory(scenario: Scenario, env: NodeJS.ProcessEnv = process.env): MemoryEstimate {
  const c = MEMORY_COSTS;
  const { driver } = scenario.cluster;
  const inProcess = driver === 'emulated' || driver === 'model';
  const nodes = inProcess ? scenarioPools(scenario).reduce((n, p) => n + p.nodes, 0) : 0;
  const pods = podsPerRepetition(scenario);
  const arms = expandArms(scenario).length;
  const recordedPods = pods * arms * scenario.repeat;
  const embedded = driver === 'emulated' && scenario.cluster.runtime === 'embedded';
  const workers = embedded ? emulationWorkers(env, nodes) : 0;
  const perNodeHeap = driver === 'model' ? c.heapPerModelNodeBytes : c.heapPerNodeBytes;
  // Without worker threads an embedded runtime's own memory is on the main heap.
  const heapBytes = c.heapBaseBytes + nodes * perNodeHeap + (embedded && workers === 0 ? nodes * c.rssPerNodeBytes : 0) + pods * c.heapPerLivePodBytes + recordedPods * c.heapPerRecordedPodBytes;
  const rssBytes = heapBytes + c.rssBaseBytes + (driver === 'emulated' ? nodes * c.rssPerNodeBytes : 0) + recordedPods * c.rssPerRecordedPodBytes;
  return { nodes, podsPerRepetition: pods, recordedPods, arms, workers, heapBytes, rssBytes };
}

export function machineLimits(): MemoryLimits {
  return { heapLimitBytes: getHeapStatistics().heap_size_limit, totalMemoryBytes: totalmem() };
}

/**
 * Refuses a run whose estimate does not fit the main thread's heap limit or the machine's memory: a run that would
 * die of it after minutes, or swap the machine into the ground, is better refused in a second, with the figures.
 */
export function assertMemoryFits(estimate: MemoryEstimate, limits: MemoryLimits): void {
  const what = `${estimate.nodes.toLocaleString('en-US')} node(s), ${estimate.podsPerRepetition.toLocaleString('en-US')} pod(s) per repetition x ${estimate.arms} arm(s) x repeat = ${estimate.recordedPods.toLocaleString('en-US')} pod record(s)`;
  const override = 'if you know better, run with --ignore-memory-estimate (docs/scale.md#memory)';
  const details = { estimate, limits };
  if (estimate.heapBytes > limits.heapLimitBytes) {
    throw new PullbenchError('RESOURCES_EXCEEDED', `this run needs about ${formatBytes(estimate.heapBytes)} of JavaScript heap (${what}), more than the heap limit of ${formatBytes(limits.heapLimitBytes)}: run fewer pods, arms or repetitions, or raise the limit (NODE_OPTIONS=--max-old-space-size=MB); ${override}`, { details });
  }
  if (estimate.rssBytes > limits.totalMemoryBytes) {
    throw new PullbenchError('RESOURCES_EXCEEDED', `this run needs about ${formatBytes(estimate.rssBytes)} of memory (${what}), more than this machine's ${formatBytes(limits.totalMemoryBytes)}: run fewer nodes or pods, or driver model for many nodes; ${override}`, { details });
  }
}
