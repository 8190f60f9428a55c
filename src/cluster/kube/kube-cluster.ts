import { Watch, type V1Pod } from '@kubernetes/client-node';
import type { Cluster, ClusterPool, PodCondition, PodCreate } from '../cluster.js';
import { PullbenchError } from '../../errors.js';
import type { BasicCredentials } from '../../oci/credentials.js';
import type { KubeEvent, PodObservation } from '../../core/events.js';
import { coldCacheDaemonSet, dockerConfigSecret, podManifest, POD_ID_LABEL, POOL_LABEL, RUN_LABEL } from './manifests.js';
import type { ClusterVersions } from './node-state.js';
import { assertCoverage, podConditionOf, timelineFromStatus } from './pod-status.js';
import type { KubeSession } from './session.js';
import type { StartedKubeCluster } from './started-cluster.js';

export interface KubeClusterOptions {
  namespace: string;
  runId: string;
  /** Scenario pull secrets by name, created as kubernetes.io/dockerconfigjson Secrets. */
  pullSecrets?: Map<string, { registry: string; username: string; password: string }>;
  /** Overrides the image's entrypoint; synthesised images need none (they run `/pause` until SIGTERM). */
  command?: string[];
  /** The cold-cache DaemonSet's image, which needs a shell (crictl comes from the node); default busybox:1.36. */
  coldCacheImage?: string;
}

interface Entry {
  create: PodCreate;
  realUid?: string;
  pod?: V1Pod;
  createError?: string;
  deletedAt?: number;
}

const PULL_DATA_REASONS = new Set(['Pulled', 'Failed', 'BackOff', 'ErrImageNeverPull']);

/**
 * The Cluster port on a real cluster (kind, k3s, kubeconfig): pods are real
 * Pods bound to the chosen node, their kubelet events are watched and handed
 * over as KubeEvents keyed by pullbench's pod ids, and observations come from
 * the Pod objects, so the one parser measures real and emulated runs alike.
 */
export class KubeCluster implements Cluster {
  readonly driver: string;
  private readonly entries = new Map<string, Entry>();
  private readonly byRealUid = new Map<string, string>();
  private readonly collected: KubeEvent[] = [];
  private readonly listeners = new Set<(uid?: string) => void>();
  private podWatch?: AbortController;

  private constructor(
    private readonly kube: StartedKubeCluster,
    private readonly session: KubeSession,
    readonly nodes: readonly string[],
    readonly pools: readonly ClusterPool[],
    private readonly clusterVersions: ClusterVersions,
    private readonly opts: KubeClusterOptions,
  ) {
    this.driver = kube.driver;
  }

  static async start(kube: StartedKubeCluster, opts: KubeClusterOptions): Promise<KubeCluster> {
    const session = await kube.session(opts.namespace, opts.runId);
    try {
      for (const [name, cred] of opts.pullSecrets ?? []) {
        await session.createSecret(dockerConfigSecret(name, opts.namespace, [cred]));
      }
      const all = await session.nodes();
      const workers = all.filter((n) => !('node-role.kubernetes.io/control-plane' in (n.metadata?.labels ?? {})));
      const used = (workers.length > 0 ? workers : all).filter((n) => (n.metadata?.name ?? '') !== '');
      const names = used.map((n) => n.metadata!.name!);
      // Pools as the nodes are labelled (kind's labelled node groups); unlabelled nodes are the pool "default".
      const pools = new Map<string, string[]>();
      for (const n of used) {
        const pool = n.metadata?.labels?.[POOL_LABEL] ?? 'default';
        pools.set(pool, [...(pools.get(pool) ?? []), n.metadata!.name!]);
      }
      const cluster = new KubeCluster(kube, session, names, [...pools].map(([name, nodes]) => ({ name, nodes })), await session.versions(), opts);
      await cluster.watch();
      return cluster;
    } catch (err) {
      await session.close().catch(() => undefined);
      throw err;
    }
  }

  private async watch(): Promise<void> {
    await this.session.watchEvents(
      () => new Set(this.byRealUid.keys()),
      (e) => {
        const id = this.byRealUid.get(e.involvedObject.uid);
        if (id && this.entries.has(id)) this.collected.push({ ...e, involvedObject: { ...e.involvedObject, uid: id } });
      },
    );
    const w = new Watch(this.kube.kubeConfig);
    this.podWatch = await w.watch(
      `/api/v1/namespaces/${this.opts.namespace}/pods`,
      { labelSelector: `${RUN_LABEL}=${this.opts.runId}` },
      (_phase, pod: V1Pod) => this.onPod(pod),
      () => undefined,
    );
  }

  private onPod(pod: V1Pod): void {
    const id = pod.metadata?.labels?.[POD_ID_LABEL];
    const entry = id ? this.entries.get(id) : undefined;
    if (!id || !entry) return;
    entry.pod = pod;
    if (pod.metadata?.uid) {
      entry.realUid = pod.metadata.uid;
      this.byRealUid.set(pod.metadata.uid, id);
    }
    for (const l of this.listeners) l(id);
  }

  createPod(pod: PodCreate): void {
    const entry: Entry = { create: pod };
    this.entries.set(pod.uid, entry);
    const body = podManifest({
      id: pod.uid,
      name: pod.name,
      namespace: this.opts.namespace,
      runId: this.opts.runId,
      workload: pod.rollout,
      image: pod.image,
      pullPolicy: pod.imagePullPolicy,
      pullSecrets: pod.imagePullSecrets,
      env: pod.env,
      node: pod.node,
      ...(pod.pool !== undefined ? { pool: pod.pool } : {}),
      ...(this.opts.command ? { command: this.opts.command } : {}),
    });
    this.session.core.createNamespacedPod({ namespace: this.opts.namespace, body }).then(
      (created) => this.onPod(created),
      (err: unknown) => {
        entry.createError = (err as Error).message;
        for (const l of this.listeners) l(pod.uid);
      },
    );
  }

  deletePod(uid: string): void {
    const entry = this.entries.get(uid);
    if (!entry) return;
    entry.deletedAt = Date.now();
    void this.session.core.deleteNamespacedPod({ name: entry.create.name, namespace: this.opts.namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  }

  condition(uid: string): PodCondition {
    const entry = this.entries.get(uid);
    return entry ? podConditionOf(entry.pod, entry.createError) : 'pending';
  }

  onChange(listener: (uid?: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async nodeImages(node: string): Promise<string[]> {
    const n = await this.session.core.readNode({ name: node });
    return (n.status?.images ?? []).flatMap((i) => i.names ?? []);
  }

  events(): KubeEvent[] {
    return [...this.collected];
  }

  observations(): PodObservation[] {
    return [...this.entries.values()].map((e) => {
      const t = e.pod ? timelineFromStatus(e.pod) : undefined;
      const waiting = e.createError ? 'CreateFailed' : t?.failureReason;
      return {
        uid: e.create.uid,
        name: e.create.name,
        namespace: this.opts.namespace,
        rollout: e.create.rollout,
        image: e.create.image,
        node: t?.node ?? e.create.node,
        createdAt: t?.createdAt ?? Date.now(),
        ...(t?.readyAt !== undefined ? { readyAt: t.readyAt } : {}),
        ...(e.deletedAt !== undefined ? { deletedAt: e.deletedAt } : {}),
        ...(waiting ? { waitingReason: waiting } : {}),
        ...(e.create.expectFailure ? { expectFailure: true } : {}),
      };
    });
  }

  /** RUN_INVALID when more than 10% of pods have neither a pull event nor a status that says how they ended. */
  assertEnoughData(): void {
    const withEvents = new Set(this.collected.filter((e) => PULL_DATA_REASONS.has(e.reason)).map((e) => e.involvedObject.uid));
    for (const [id, e] of this.entries) {
      const t = e.pod ? timelineFromStatus(e.pod) : undefined;
      if (t && (t.failureReason || t.pullUpperBoundMs !== undefined)) withEvents.add(id);
    }
    assertCoverage([...this.entries.keys()], withEvents);
  }

  /** Removes the images from every node for real and waits until Node.status.images agrees. */
  async makeCold(images: string[], timeoutMs = 180_000): Promise<boolean> {
    const helperImage = this.opts.coldCacheImage ?? 'busybox:1.36';
    const ds = coldCacheDaemonSet({
      namespace: this.opts.namespace,
      runId: this.opts.runId,
      images,
      helperImage,
      criSocket: this.kube.criSocket,
      crictl: this.kube.crictl,
    });
    await this.session.createDaemonSet(ds);
    try {
      await this.session.waitDaemonSetReady(ds.metadata?.name ?? '', timeoutMs);
    } finally {
      await this.session.apps.deleteNamespacedDaemonSet({ name: ds.metadata?.name ?? '', namespace: this.opts.namespace }).catch(() => undefined);
    }
    await this.session.waitCold(images, timeoutMs);
    return true;
  }

  /**
   * Warms every node for real: one IfNotPresent pod per node and image, waited
   * for and deleted, then Node.status.images must list the images everywhere.
   * The warming pods present the cluster's pull secrets (`auth` is the emulated
   * nodes' way). They and their events are not part of the measured record.
   */
  async prepull(images: string[], _auth?: BasicCredentials, timeoutMs = 300_000): Promise<void> {
    const pullSecrets = [...(this.opts.pullSecrets?.keys() ?? [])];
    const ids: string[] = [];
    this.nodes.forEach((node, n) =>
      images.forEach((image, i) => {
        const id = `warm-${n}-${i}`;
        ids.push(id);
        this.createPod({ uid: id, name: `pullbench-warm-${n}-${i}`, namespace: this.opts.namespace, rollout: 'warm', image, imagePullPolicy: 'IfNotPresent', imagePullSecrets: pullSecrets, node });
      }),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => done(new PullbenchError('TIMEOUT', `warming pods not ready after ${timeoutMs} ms`)), timeoutMs);
        const check = (): void => {
          const failed = ids.find((id) => this.condition(id) === 'failed');
          if (failed) done(new PullbenchError('RUN_INVALID', `warming pod ${failed} failed: ${this.observations().find((o) => o.uid === failed)?.waitingReason ?? 'unknown'}`));
          else if (ids.every((id) => this.condition(id) === 'ready')) done();
        };
        const off = this.onChange(check);
        const done = (err?: Error): void => {
          clearTimeout(timer);
          off();
          if (err) reject(err);
          else resolve();
        };
        check();
      });
      await this.session.waitWarm(images, timeoutMs, this.nodes);
    } finally {
      for (const id of ids) {
        this.deletePod(id);
        this.entries.delete(id);
      }
      const warm = new Set(ids);
      this.collected.splice(0, this.collected.length, ...this.collected.filter((e) => !warm.has(e.involvedObject.uid)));
    }
  }

  /** No shaped links on a real cluster (the scenario schema rejects `links` there). */
  linkBytes(): { registry: number; mirror: number } {
    return { registry: 0, mirror: 0 };
  }

  versions(): Record<string, string> {
    return {
      kubernetes: this.clusterVersions.kubernetes,
      containerRuntime: this.clusterVersions.containerRuntimes.join(', '),
      kubelet: this.clusterVersions.kubelets.join(', '),
      kubernetesVersion: this.clusterVersions.kubeletProfile,
      ...(this.clusterVersions.containerdProfile ? { containerdVersion: this.clusterVersions.containerdProfile } : {}),
      ...this.clusterVersions.settings,
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.podWatch?.abort();
    try {
      await this.session.close();
    } finally {
      await this.kube[Symbol.asyncDispose]();
    }
  }
}
