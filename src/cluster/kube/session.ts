import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  VersionApi,
  Watch,
  type V1DaemonSet,
  type V1Deployment,
  type V1Node,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import { PullbenchError } from '../../errors.js';
import { registerCleanup } from '../../util/cleanup.js';
import type { KubeEvent } from '../../core/events.js';
import { fromCoreV1Event, PodEventFilter, type CoreV1EventLike } from './event-conversion.js';
import { namespaceManifest, RUN_LABEL } from './manifests.js';
import { kubeletSettingsFromConfigz, mergeNodeSettings } from './kubelet-settings.js';
import { assertCold, cacheIsWarm, clusterVersions, type ClusterVersions } from './node-state.js';

export interface KubeTarget {
  /** kubeconfig file; the default loading rules ($KUBECONFIG, ~/.kube/config) when absent. */
  kubeconfigPath?: string;
  /** kubeconfig YAML text (kind and k3s hand one over). */
  kubeconfigText?: string;
  context?: string;
}

/** Loads a kubeconfig and selects the context; DRIVER_UNAVAILABLE when either is missing. */
export function loadKubeConfig(target: KubeTarget): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (target.kubeconfigText !== undefined) kc.loadFromString(target.kubeconfigText);
    else if (target.kubeconfigPath !== undefined) kc.loadFromFile(target.kubeconfigPath);
    else kc.loadFromDefault();
  } catch (err) {
    throw new PullbenchError('DRIVER_UNAVAILABLE', `cannot read kubeconfig ${target.kubeconfigPath ?? '(default)'}: ${(err as Error).message}`, { cause: err });
  }
  if (target.context !== undefined) {
    if (!kc.getContexts().some((c) => c.name === target.context)) {
      throw new PullbenchError('DRIVER_UNAVAILABLE', `context ${JSON.stringify(target.context)} is not in the kubeconfig`, {
        details: { contexts: kc.getContexts().map((c) => c.name) },
      });
    }
    kc.setCurrentContext(target.context);
  }
  if (!kc.getCurrentCluster()) throw new PullbenchError('DRIVER_UNAVAILABLE', 'the kubeconfig has no current cluster');
  return kc;
}

function clusterError(what: string, err: unknown): PullbenchError {
  const e = err as { code?: number; body?: unknown; message?: string };
  return new PullbenchError('CLUSTER_ERROR', `${what}: ${e.message ?? String(err)}`, { cause: err, details: { status: e.code } });
}

/**
 * A run's footprint on one cluster: the namespace pullbench creates (and
 * removes on dispose, failure or Ctrl-C), the objects inside it, and an
 * event watch that hands KubeEvents about the run's pods to the one parser.
 */
export class KubeSession implements AsyncDisposable {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  private readonly version: VersionApi;
  private readonly unregister: () => void;
  private aborts: AbortController[] = [];
  private closed = false;

  private constructor(
    readonly kc: KubeConfig,
    readonly namespace: string,
    readonly runId: string,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.version = kc.makeApiClient(VersionApi);
    this.unregister = registerCleanup(`kubernetes namespace ${namespace}`, () => this.close());
  }

  /** Creates the run's namespace; fails if it exists (pullbench never adopts a namespace it did not create). */
  static async open(kc: KubeConfig, namespace: string, runId: string): Promise<KubeSession> {
    const core = kc.makeApiClient(CoreV1Api);
    try {
      await core.createNamespace({ body: namespaceManifest(namespace, runId) });
    } catch (err) {
      throw clusterError(`creating namespace ${namespace}`, err);
    }
    return new KubeSession(kc, namespace, runId);
  }

  async versions(): Promise<ClusterVersions> {
    try {
      const [v, nodes] = await Promise.all([this.version.getCode(), this.core.listNode()]);
      // Each kubelet's effective configuration through the API server's node proxy; a node that does not answer
      // (no proxy rights, a kubelet without /configz) is left out rather than failing the run.
      const perNode = await Promise.all(
        nodes.items.map((n) =>
          this.core
            .connectGetNodeProxyWithPath({ name: n.metadata?.name ?? '', path: 'configz' })
            .then((answer: unknown) => kubeletSettingsFromConfigz(typeof answer === 'string' ? JSON.parse(answer) : answer))
            .catch(() => ({})),
        ),
      );
      const settings = mergeNodeSettings(perNode);
      return { ...clusterVersions(v.gitVersion, nodes.items), ...(Object.keys(settings).length ? { settings } : {}) };
    } catch (err) {
      throw clusterError('reading cluster versions', err);
    }
  }

  async nodes(): Promise<V1Node[]> {
    return (await this.core.listNode()).items;
  }

  async createSecret(secret: V1Secret): Promise<void> {
    await this.core.createNamespacedSecret({ namespace: this.namespace, body: secret }).catch((err: unknown) => {
      // The message of a failed Secret create could echo the body; keep only the status.
      throw new PullbenchError('CLUSTER_ERROR', `creating pull secret ${secret.metadata?.name ?? ''} failed`, {
        details: { status: (err as { code?: number }).code },
      });
    });
  }

  async createDeployment(d: V1Deployment): Promise<void> {
    await this.apps.createNamespacedDeployment({ namespace: this.namespace, body: d }).catch((err: unknown) => {
      throw clusterError(`creating deployment ${d.metadata?.name ?? ''}`, err);
    });
  }

  async createDaemonSet(ds: V1DaemonSet): Promise<void> {
    await this.apps.createNamespacedDaemonSet({ namespace: this.namespace, body: ds }).catch((err: unknown) => {
      throw clusterError(`creating daemonset ${ds.metadata?.name ?? ''}`, err);
    });
  }

  async pods(labelSelector?: string): Promise<V1Pod[]> {
    return (await this.core.listNamespacedPod({ namespace: this.namespace, ...(labelSelector ? { labelSelector } : {}) })).items;
  }

  /** Waits until a DaemonSet has a ready pod on every node it targets. */
  async waitDaemonSetReady(name: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ds = await this.apps.readNamespacedDaemonSet({ name, namespace: this.namespace });
      const want = ds.status?.desiredNumberScheduled ?? -1;
      if (want > 0 && ds.status?.numberReady === want) return;
      if (Date.now() > deadline) throw new PullbenchError('TIMEOUT', `daemonset ${name}: ${ds.status?.numberReady ?? 0}/${want} ready after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** Polls `Node.status.images` until no node lists the images (kubelet refreshes it about every 10 s). */
  async waitCold(images: string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nodes = await this.nodes();
      try {
        assertCold(nodes, images);
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  /** Polls `Node.status.images` until every given node (default all) lists every image. */
  async waitWarm(images: string[], timeoutMs: number, nodeNames?: readonly string[]): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const chosen = (nodes: V1Node[]): V1Node[] => (nodeNames ? nodes.filter((n) => nodeNames.includes(n.metadata?.name ?? '')) : nodes);
    while (!cacheIsWarm(chosen(await this.nodes()), images)) {
      if (Date.now() > deadline) throw new PullbenchError('RUN_INVALID', `Node.status.images does not list ${images.join(', ')} on every node after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  /**
   * Lists then watches core/v1 Events in the namespace, converts them and
   * passes on those about the given pods (by UID). Reconnects from the last
   * resourceVersion when the watch ends; a 410 Gone restarts with a relist.
   */
  async watchEvents(podUids: () => ReadonlySet<string>, onEvent: (e: KubeEvent) => void): Promise<void> {
    const filter = new PodEventFilter(podUids);
    const path = `/api/v1/namespaces/${this.namespace}/events`;
    const deliver = (raw: CoreV1EventLike & { metadata?: { uid?: string | undefined; resourceVersion?: string | undefined } | undefined }): void => {
      const ev = fromCoreV1Event(raw);
      if (ev && filter.accept(ev, raw.metadata?.uid ?? `${ev.reason}/${ev.involvedObject.uid}`)) onEvent(ev);
    };
    const start = async (): Promise<void> => {
      if (this.closed) return;
      const list = await this.core.listNamespacedEvent({ namespace: this.namespace });
      for (const item of list.items) deliver(item as unknown as CoreV1EventLike);
      let rv = list.metadata?.resourceVersion;
      const watch = new Watch(this.kc);
      const abort = await watch.watch(
        path,
        { resourceVersion: rv, allowWatchBookmarks: true },
        (phase, obj: CoreV1EventLike & { metadata?: { resourceVersion?: string | undefined } | undefined }) => {
          rv = obj.metadata?.resourceVersion ?? rv;
          if (phase === 'ADDED' || phase === 'MODIFIED') deliver(obj);
        },
        () => {
          if (!this.closed) void start().catch(() => undefined);
        },
      );
      this.aborts.push(abort);
    };
    await start();
  }

  /** Deletes the namespace (and so everything pullbench created in it) if it is this run's; the API server finishes the deletion in the background. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unregister();
    for (const a of this.aborts) a.abort();
    try {
      const ns = await this.core.readNamespace({ name: this.namespace });
      if (ns.metadata?.labels?.[RUN_LABEL] !== this.runId) return;
      await this.core.deleteNamespace({ name: this.namespace, propagationPolicy: 'Foreground' });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return;
      throw clusterError(`deleting namespace ${this.namespace}`, err);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
