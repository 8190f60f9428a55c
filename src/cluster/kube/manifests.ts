import type { V1DaemonSet, V1Deployment, V1Namespace, V1PodSpec, V1Secret } from '@kubernetes/client-node';
import { PullbenchError } from '../../errors.js';

const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'pullbench' } as const;
export const RUN_LABEL = 'pullbench.io/run';
/** The node label that names a node's pool (kind's labelled node groups; pods' nodeSelector for a workload's pool). */
export const POOL_LABEL = 'pullbench.io/pool';
const WORKLOAD_LABEL = 'pullbench.io/workload';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Kubernetes names (RFC 1123 labels): bad input is INVALID_ARGUMENT here, not a 422 from the API server later. */
export function assertDnsLabel(what: string, name: string): void {
  if (name.length > 63 || !DNS_LABEL.test(name)) {
    throw new PullbenchError('INVALID_ARGUMENT', `${what} ${JSON.stringify(name)} is not a valid Kubernetes name (lowercase letters, digits, '-', at most 63)`);
  }
}

/** The one namespace pullbench creates for a run, labelled so that it (and only it) is removed afterwards. */
export function namespaceManifest(name: string, runId: string): V1Namespace {
  assertDnsLabel('namespace', name);
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...MANAGED_BY, [RUN_LABEL]: runId } } };
}

/** A pull secret the way `kubectl create secret docker-registry` writes it. */
export function dockerConfigSecret(
  name: string,
  namespace: string,
  entries: Array<{ registry: string; username: string; password: string }>,
): V1Secret {
  assertDnsLabel('secret', name);
  const auths: Record<string, { username: string; password: string; auth: string }> = {};
  for (const e of entries) {
    auths[e.registry] = {
      username: e.username,
      password: e.password,
      auth: Buffer.from(`${e.username}:${e.password}`).toString('base64'),
    };
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/dockerconfigjson',
    metadata: { name, namespace, labels: { ...MANAGED_BY } },
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths })).toString('base64') },
  };
}

export interface WorkloadSpec {
  name: string;
  namespace: string;
  runId: string;
  image: string;
  pullPolicy: PullPolicy;
  pullSecrets?: string[];
  /** Overrides the image's entrypoint; absent, the pod runs the image's own (a synthesised image's `/pause`). */
  command?: string[];
  nodeSelector?: Record<string, string>;
}

function podSpec(w: WorkloadSpec): V1PodSpec {
  return {
    terminationGracePeriodSeconds: 1,
    ...(w.pullSecrets?.length ? { imagePullSecrets: w.pullSecrets.map((name) => ({ name })) } : {}),
    ...(w.nodeSelector ? { nodeSelector: w.nodeSelector } : {}),
    // Spread like the emulated scheduler does, so pulls land on every node.
    topologySpreadConstraints: [
      {
        maxSkew: 1,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: { [WORKLOAD_LABEL]: w.name } },
      },
    ],
    containers: [{ name: 'app', image: w.image, imagePullPolicy: w.pullPolicy, ...(w.command ? { command: w.command } : {}) }],
  };
}

function labels(w: WorkloadSpec): Record<string, string> {
  return { ...MANAGED_BY, [RUN_LABEL]: w.runId, [WORKLOAD_LABEL]: w.name };
}

/** A Deployment with the arm's pull policy and rolling-update parameters. */
export function deploymentManifest(
  w: WorkloadSpec & { replicas: number; maxSurge?: number | string; maxUnavailable?: number | string },
): V1Deployment {
  assertDnsLabel('deployment', w.name);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: w.name, namespace: w.namespace, labels: labels(w) },
    spec: {
      replicas: w.replicas,
      selector: { matchLabels: { [WORKLOAD_LABEL]: w.name } },
      strategy: {
        type: 'RollingUpdate',
        rollingUpdate: { maxSurge: w.maxSurge ?? '25%', maxUnavailable: w.maxUnavailable ?? '25%' },
      },
      template: { metadata: { labels: labels(w) }, spec: podSpec(w) },
    },
  };
}

/** A DaemonSet (one pod per node) with the arm's pull policy. */
export function daemonSetManifest(w: WorkloadSpec & { maxUnavailable?: number | string }): V1DaemonSet {
  assertDnsLabel('daemonset', w.name);
  const spec = podSpec(w);
  delete spec.topologySpreadConstraints;
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: w.name, namespace: w.namespace, labels: labels(w) },
    spec: {
      selector: { matchLabels: { [WORKLOAD_LABEL]: w.name } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: w.maxUnavailable ?? 1 } },
      template: { metadata: { labels: labels(w) }, spec: { ...spec, tolerations: [{ operator: 'Exists' }] } },
    },
  };
}

export interface ColdCacheSpec {
  namespace: string;
  runId: string;
  /** Images to remove from every node, as the pods name them. */
  images: string[];
  /** Image that runs the removal: it needs `sh` and `chroot` (busybox does). */
  helperImage: string;
  /** CRI socket on the node: /run/containerd/containerd.sock (kind), /run/k3s/containerd/containerd.sock (k3s). */
  criSocket: string;
  /** crictl as the node's root filesystem has it: `crictl` (kind), `/usr/local/bin/crictl`, ... */
  crictl?: string;
}

const SHELL_SAFE = /^[A-Za-z0-9._:/@+-]+$/;

/** The shell script the cold-cache pod runs: remove each image through the node's own crictl, then report done. */
export function coldCacheScript(spec: Pick<ColdCacheSpec, 'images' | 'criSocket' | 'crictl'>): string {
  for (const v of [...spec.images, spec.criSocket, spec.crictl ?? 'crictl']) {
    if (!SHELL_SAFE.test(v)) throw new PullbenchError('INVALID_ARGUMENT', `refusing to put ${JSON.stringify(v)} into a shell command`);
  }
  const crictl = `chroot /host ${spec.crictl ?? 'crictl'} --runtime-endpoint unix://${spec.criSocket}`;
  const removals = spec.images.map((img) => `${crictl} rmi ${img} >/dev/null 2>&1 || true`);
  // The DaemonSet stays Ready (a readiness probe on the marker) so the driver knows every node is done.
  return ['set -u', ...removals, 'touch /tmp/pullbench-cold-done', 'exec sleep 2147483647'].join('\n');
}

/**
 * A privileged DaemonSet on every node (control plane included) that removes
 * the run's images with `crictl rmi` through the node's containerd socket.
 * The driver then checks `Node.status.images` before calling the cache cold.
 */
export function coldCacheDaemonSet(spec: ColdCacheSpec): V1DaemonSet {
  const name = 'pullbench-cold-cache';
  const lbl = { ...MANAGED_BY, [RUN_LABEL]: spec.runId, [WORKLOAD_LABEL]: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: spec.namespace, labels: lbl },
    spec: {
      selector: { matchLabels: { [WORKLOAD_LABEL]: name } },
      template: {
        metadata: { labels: lbl },
        spec: {
          hostPID: true,
          terminationGracePeriodSeconds: 1,
          tolerations: [{ operator: 'Exists' }],
          containers: [
            {
              name: 'rmi',
              image: spec.helperImage,
              imagePullPolicy: 'IfNotPresent',
              command: ['sh', '-c', coldCacheScript(spec)],
              securityContext: { privileged: true },
              readinessProbe: { exec: { command: ['test', '-f', '/tmp/pullbench-cold-done'] }, periodSeconds: 1 },
              volumeMounts: [
                { name: 'host', mountPath: '/host' },
                { name: 'cri', mountPath: `/host${spec.criSocket}` },
              ],
            },
          ],
          volumes: [
            { name: 'host', hostPath: { path: '/', type: 'Directory' } },
            { name: 'cri', hostPath: { path: spec.criSocket, type: 'Socket' } },
          ],
        },
      },
    },
  };
}

/** The label that carries pullbench's own pod id (the Cluster port names pods before the API server assigns a UID). */
export const POD_ID_LABEL = 'pullbench.io/pod-id';

/** A bare Pod bound to a node: pullbench's rollout engine plays the controller and the scheduler. */
export function podManifest(p: {
  id: string;
  name: string;
  namespace: string;
  runId: string;
  workload: string;
  image: string;
  /** Absent: the pod leaves imagePullPolicy out and the API server defaults it. */
  pullPolicy?: PullPolicy | undefined;
  pullSecrets: string[];
  node: string;
  /** The workload's pool: a nodeSelector on the pool label, which kubelet checks when it admits the bound pod. */
  pool?: string;
  command?: string[];
  env?: readonly { name: string; value: string }[] | undefined;
}): import('@kubernetes/client-node').V1Pod {
  assertDnsLabel('pod', p.name);
  if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(p.id)) {
    throw new PullbenchError('INVALID_ARGUMENT', `pod id ${JSON.stringify(p.id)} cannot be a label value`);
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: p.namespace,
      labels: { ...MANAGED_BY, [RUN_LABEL]: p.runId, [WORKLOAD_LABEL]: p.workload, [POD_ID_LABEL]: p.id },
    },
    spec: {
      nodeName: p.node,
      ...(p.pool !== undefined ? { nodeSelector: { [POOL_LABEL]: p.pool } } : {}),
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 1,
      tolerations: [{ operator: 'Exists' }],
      ...(p.pullSecrets.length ? { imagePullSecrets: p.pullSecrets.map((name) => ({ name })) } : {}),
      containers: [{ name: 'app', image: p.image, ...(p.pullPolicy ? { imagePullPolicy: p.pullPolicy } : {}), ...(p.command ? { command: p.command } : {}), ...(p.env?.length ? { env: p.env.map((v) => ({ ...v })) } : {}) }],
    },
  };
}
