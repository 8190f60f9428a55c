import { randomUUID } from 'node:crypto';
import type { Cluster, ImagePullPolicy, PodCondition } from '../cluster/cluster.js';
import type { Clock } from '../core/clock.js';
import { PullbenchError } from '../errors.js';
import type { RolloutSection } from '../scenario/schema.js';
import type { IntOrPercent } from '../scenario/schema-builder.js';
import { commonUnfixableCause, type UnfixableCause } from './pull-failure.js';
import { SpreadScheduler } from './scheduler.js';
import { daemonSetSync, deploymentSync, type NodePods, type PodState } from './strategy.js';

export interface RolloutOptions {
  cluster: Cluster;
  clock: Clock;
  namespace: string;
  /** `Default`: pods leave imagePullPolicy out, for the API server's defaulting. */
  pullPolicy: ImagePullPolicy | 'Default';
  /** Scenario image ref (`demo/app:v1`) -> the reference nodes pull. */
  imageRef(ref: string): string;
  /** Pod uids (default random UUIDs); a modelled run numbers them so that it is reproducible. */
  newUid?: () => string;
  /** Called after every sync with pods ready / total of the step. */
  onProgress?(step: string, ready: number, total: number): void;
  /** A step starts (before its first pod is created): faults timed from a step are scheduled here. */
  onStepStart?(step: string, at: number): void;
  /** Aborted (Ctrl-C): the rollout stops at its next sync or wait, and throws the signal's reason. */
  signal?: AbortSignal;
}

export interface StepResult {
  name: string;
  kind: 'deployment' | 'daemonSet' | 'update';
  workload: string;
  startedAt: number;
  finishedAt: number;
  durationMs: number;
  /** Every pod of the new revision ready (or, for `expect: failure`, failed) and no old pod left. */
  completed: boolean;
  timedOut: boolean;
  /** Set when the step ended early: every pending pod failed with a cause retrying cannot fix (rollouts[].failFast). */
  failedFast?: UnfixableCause;
  /** Pods created by this step. */
  pods: string[];
}

interface TrackedPod {
  uid: string;
  node: string;
  revision: number;
}

interface Workload {
  name: string;
  kind: 'deployment' | 'daemonSet';
  /** The nodes its pods may run on (its pool's, or every node). */
  nodes: readonly string[];
  /** The pool it selects, when it selects one. */
  pool?: string | undefined;
  replicas: number;
  maxSurge: IntOrPercent;
  maxUnavailable: IntOrPercent;
  imagePullSecrets: string[];
  env: readonly { name: string; value: string }[];
  image: string;
  revision: number;
  step: string;
  expectFailure: boolean;
  pods: TrackedPod[];
  created: number;
}

/**
 * Pods one controller sync creates at most, as kube-controller-manager's burstReplicas: 500 for the ReplicaSet
 * controller (pkg/controller/replicaset/replica_set.go BurstReplicas), 250 for the DaemonSet controller
 * (pkg/controller/daemon/daemon_controller.go BurstReplicas), v1.33. Between bursts the step yields a turn of the
 * event loop: 100,000 pods created and started in one go held the process for over a minute (no progress line, no
 * Ctrl-C); now a burst and what it sets off run, then timers, I/O and signals.
 */
const BURST = { deployment: 500, daemonSet: 250 } as const;

/** How often, at most, a controller syncs a step of this many pods; changes in between are handled together. */
function syncIntervalMs(pods: number): number {
  return pods < 200 ? 0 : Math.max(10, pods / 100);
}

/** Runs the scenario's rollout steps in order, as the Deployment and DaemonSet controllers would. */
export async function runRollouts(steps: readonly RolloutSection[], opts: RolloutOptions): Promise<StepResult[]> {
  const scheduler = new SpreadScheduler(opts.cluster.nodes);
  const workloads = new Map<string, Workload>();
  // A workload's pool is a nodeSelector on the pool label: only that pool's nodes.
  const nodesOf = (pool: string | undefined): readonly string[] => {
    if (pool === undefined) return opts.cluster.nodes;
    const found = opts.cluster.pools.find((p) => p.name === pool);
    if (!found) throw new PullbenchError('INVALID_ARGUMENT', `no node pool "${pool}" in the cluster (it has: ${opts.cluster.pools.map((p) => p.name).join(', ')})`);
    return found.nodes;
  };
  const results: StepResult[] = [];
  for (const step of steps) {
    opts.signal?.throwIfAborted();
    let workload: Workload;
    if (step.update) {
      workload = workloads.get(step.update.target)!;
      workload.revision++;
      workload.image = step.update.image;
    } else if (step.deployment) {
      const d = step.deployment;
      workload = { name: step.name, kind: 'deployment', nodes: nodesOf(d.pool), pool: d.pool, replicas: d.replicas, maxSurge: d.maxSurge, maxUnavailable: d.maxUnavailable, imagePullSecrets: d.imagePullSecrets, env: d.env, image: d.image, revision: 1, step: step.name, expectFailure: false, pods: [], created: 0 };
      workloads.set(step.name, workload);
    } else {
      const ds = step.daemonSet!;
      const nodes = nodesOf(ds.pool);
      workload = { name: step.name, kind: 'daemonSet', nodes, pool: ds.pool, replicas: nodes.length, maxSurge: 0, maxUnavailable: ds.maxUnavailable, imagePullSecrets: ds.imagePullSecrets, env: ds.env, image: ds.image, revision: 1, step: step.name, expectFailure: false, pods: [], created: 0 };
      workloads.set(step.name, workload);
    }
    workload.step = step.name;
    workload.expectFailure = step.expect === 'failure';
    results.push(await runStep(step, workload, scheduler, opts));
  }
  return results;
}

async function runStep(step: RolloutSection, w: Workload, scheduler: SpreadScheduler, opts: RolloutOptions): Promise<StepResult> {
  const { cluster, clock } = opts;
  const startedAt = clock.now();
  opts.onStepStart?.(step.name, startedAt);
  const deadline = startedAt + step.timeout;
  const createdHere: string[] = [];
  const state = (p: TrackedPod): PodState => ({ uid: p.uid, available: cluster.condition(p.uid) === 'ready' });
  const census = new NewPodCensus(cluster);
  const stopCounting = cluster.onChange((uid) => census.changed(uid));
  // For a DaemonSet with no old pod left: the nodes with their new pod, and a cursor before which every node has one.
  let oldLeft = w.pods.filter((p) => p.revision < w.revision).length;
  const withNew = new Set(w.pods.filter((p) => p.revision === w.revision).map((p) => p.node));
  let covered = 0;

  const create = (node: string): void => {
    const uid = opts.newUid?.() ?? randomUUID();
    const name = `${w.name}-${w.revision}-${++w.created}`;
    cluster.createPod({
      uid, name, namespace: opts.namespace, rollout: w.step, image: opts.imageRef(w.image),
      ...(opts.pullPolicy === 'Default' ? {} : { imagePullPolicy: opts.pullPolicy }),
      imagePullSecrets: w.imagePullSecrets, ...(w.env.length ? { env: w.env } : {}), node, ...(w.pool !== undefined ? { pool: w.pool } : {}), expectFailure: w.expectFailure,
    });
    w.pods.push({ uid, node, revision: w.revision });
    withNew.add(node);
    census.add(uid);
    createdHere.push(uid);
  };
  const remove = (uid: string): void => {
    const pod = w.pods.find((p) => p.uid === uid);
    if (!pod) return;
    cluster.deletePod(uid);
    scheduler.release(pod.node, w.name);
    census.delete(uid);
    w.pods = w.pods.filter((p) => p.uid !== uid);
    if (pod.revision < w.revision) oldLeft--;
    else if (!w.pods.some((p) => p.node === pod.node && p.revision === w.revision)) {
      withNew.delete(pod.node);
      covered = 0;
    }
  };

  // One controller sync; true when it changed something. A full burst sets `burst`: the next sync waits a turn.
  let burst = false;
  const sync = (): boolean => {
    // Every node has its new pod (one per node, as create() below makes them) and no old one is left: nothing to do,
    // and no pass over the pods (100,000 in a model).
    if (w.kind === 'daemonSet' && census.size === w.pods.length && census.size === w.nodes.length) return false;
    if (w.kind === 'daemonSet' && oldLeft === 0) {
      // Nothing old to delete, so daemonSetSync's answer is the nodes without their new pod, in order: found from the
      // cursor on, a sync costs the pods it creates (a pass over the nodes per burst made a 50,000-node step quadratic).
      const creates: string[] = [];
      for (; covered < w.nodes.length && creates.length < BURST.daemonSet; covered++) {
        if (!withNew.has(w.nodes[covered]!)) creates.push(w.nodes[covered]!);
      }
      creates.forEach(create);
      burst = creates.length === BURST.daemonSet;
      return creates.length > 0;
    }
    const oldPods = w.pods.filter((p) => p.revision < w.revision);
    const newPods = w.pods.filter((p) => p.revision === w.revision);
    if (w.kind === 'deployment') {
      const action = deploymentSync(w, oldPods.map(state), newPods.map(state));
      const creates = Math.min(action.create, BURST.deployment);
      for (let i = 0; i < creates; i++) create(scheduler.schedule(w.name, w.nodes === cluster.nodes ? undefined : w.nodes));
      action.delete.forEach(remove);
      burst = creates === BURST.deployment;
      return creates > 0 || action.delete.length > 0;
    }
    // By node, once per sync: a find per node made every sync O(nodes x pods), minutes at 1,000 nodes.
    const newByNode = firstByNode(newPods);
    const oldByNode = firstByNode(oldPods);
    const nodes: NodePods[] = w.nodes.map((node) => {
      const old = oldByNode.get(node);
      const neu = newByNode.get(node);
      return { node, ...(old ? { old: state(old) } : {}), ...(neu ? { new: state(neu) } : {}) };
    });
    const action = daemonSetSync(w.maxUnavailable, nodes);
    const creates = action.create.slice(0, BURST.daemonSet);
    creates.forEach(create);
    action.delete.forEach(remove);
    burst = creates.length === BURST.daemonSet;
    return creates.length > 0 || action.delete.length > 0;
  };

  const settled = (): boolean => {
    const n = census.size;
    if (n < w.replicas || n !== w.pods.length) {
      // An expected failure never completes the rollout: it is settled once every new pod has failed.
      return w.expectFailure && n > 0 && census.failed === n;
    }
    return w.expectFailure ? census.ready + census.failed === n : census.ready === n;
  };

  let timedOut = false;
  let failedFast: UnfixableCause | undefined;
  let lastCauseCheck = -Infinity;
  // Every pod not ready has failed (none on its way): the moment to ask whether a retry could help. At most once a second,
  // since it reads the events.
  const unfixable = (): UnfixableCause | undefined => {
    if (w.expectFailure || step.failFast === false || clock.now() - lastCauseCheck < 1000) return undefined;
    if (census.failed === 0 || census.failed + census.ready < census.size) return undefined;
    lastCauseCheck = clock.now();
    return commonUnfixableCause(census.with('failed'), cluster.events());
  };
  let lastSync = -Infinity;
  try {
    for (;;) {
      opts.signal?.throwIfAborted();
      // Every sync is a pass over the step's pods; one per readiness change made a large step O(pods²). A sync every
      // pods/100 ms bounds the passes by the step's duration instead; small steps sync at once, their timing exact.
      const wait = lastSync + syncIntervalMs(w.replicas) - clock.now();
      if (wait > 0) await sleepUnlessAborted(clock, wait, opts.signal);
      opts.signal?.throwIfAborted();
      lastSync = clock.now();
      // Keep syncing until the controller has nothing to do, a turn of the event loop after each full burst.
      while (sync()) {
        if (burst) {
          opts.onProgress?.(step.name, census.ready, w.replicas);
          await sleepUnlessAborted(clock, 0, opts.signal);
          opts.signal?.throwIfAborted();
        }
      }
      census.refresh();
      opts.onProgress?.(step.name, census.ready, w.replicas);
      if (settled()) break;
      failedFast = unfixable();
      if (failedFast) break;
      if (clock.now() >= deadline) {
        timedOut = true;
        break;
      }
      await waitForChange(cluster, clock, Math.min(1000, deadline - clock.now()), opts.signal);
    }
  } finally {
    stopCounting();
  }
  const finishedAt = clock.now();
  return {
    name: step.name,
    kind: step.update ? 'update' : w.kind,
    workload: w.name,
    startedAt,
    finishedAt,
    durationMs: finishedAt - startedAt,
    completed: !timedOut && !failedFast,
    timedOut,
    ...(failedFast ? { failedFast } : {}),
    pods: createdHere,
  };
}

/**
 * The step's new pods and how many of them are ready or failed, kept as the cluster reports changes: a check costs
 * the changes since the last one, not a pass over the pods (a pass per check made a 50,000-pod step quadratic).
 * A change reported without its pod (a cluster that cannot tell) marks every count stale until the next refresh.
 */
class NewPodCensus {
  private readonly conditions = new Map<string, PodCondition>();
  ready = 0;
  failed = 0;
  private stale = false;

  constructor(private readonly cluster: Cluster) {}

  get size(): number {
    return this.conditions.size;
  }

  add(uid: string): void {
    this.conditions.set(uid, 'pending');
    this.update(uid);
  }

  delete(uid: string): void {
    const was = this.conditions.get(uid);
    if (was === undefined) return;
    this.count(was, -1);
    this.conditions.delete(uid);
  }

  changed(uid: string | undefined): void {
    if (uid === undefined) this.stale = true;
    else this.update(uid);
  }

  /** Re-reads every pod after a change the cluster could not place. */
  refresh(): void {
    if (!this.stale) return;
    this.stale = false;
    for (const uid of this.conditions.keys()) this.update(uid);
  }

  with(condition: PodCondition): Set<string> {
    return new Set([...this.conditions].filter(([, c]) => c === condition).map(([uid]) => uid));
  }

  private update(uid: string): void {
    const was = this.conditions.get(uid);
    if (was === undefined) return;
    const now = this.cluster.condition(uid);
    if (now === was) return;
    this.count(was, -1);
    this.count(now, 1);
    this.conditions.set(uid, now);
  }

  private count(c: PodCondition, by: number): void {
    if (c === 'ready') this.ready += by;
    else if (c === 'failed') this.failed += by;
  }
}

function firstByNode(pods: readonly TrackedPod[]): Map<string, TrackedPod> {
  const byNode = new Map<string, TrackedPod>();
  for (const p of pods) if (!byNode.has(p.node)) byNode.set(p.node, p);
  return byNode;
}

// A change, the time, or an abort: whichever comes first.
function waitForChange(cluster: Cluster, clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      unsubscribe();
      signal?.removeEventListener('abort', finish);
      resolve();
    };
    const unsubscribe = cluster.onChange(finish);
    signal?.addEventListener('abort', finish, { once: true });
    void clock.sleep(Math.max(0, ms)).then(finish);
  });
}

function sleepUnlessAborted(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return clock.sleep(ms);
  return new Promise((resolve) => {
    const finish = (): void => {
      signal.removeEventListener('abort', finish);
      resolve();
    };
    signal.addEventListener('abort', finish, { once: true });
    void clock.sleep(ms).then(finish);
  });
}
