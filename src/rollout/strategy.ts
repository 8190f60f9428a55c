import type { IntOrPercent } from '../scenario/schema-builder.js';

/**
 * The Deployment and DaemonSet controllers' rolling-update arithmetic, as pure
 * functions over pod states, so that each wave can be checked by hand.
 */

export interface PodState {
  uid: string;
  /** Ready (minReadySeconds 0), i.e. counted as available. */
  available: boolean;
}

/** IntOrString scaled against a total, rounding as Kubernetes' GetScaledValueFromIntOrPercent. */
export function scaled(value: IntOrPercent, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  const pct = Number(value.slice(0, -1));
  const exact = (pct * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** Deployment ResolveFenceposts: surge rounds up, unavailable down; both 0 -> unavailable 1. */
export function resolveFenceposts(maxSurge: IntOrPercent, maxUnavailable: IntOrPercent, replicas: number): { surge: number; unavailable: number } {
  const surge = scaled(maxSurge, replicas, true);
  const unavailable = scaled(maxUnavailable, replicas, false);
  return surge === 0 && unavailable === 0 ? { surge, unavailable: 1 } : { surge, unavailable };
}

export interface DeploymentAction {
  /** New-revision pods to create. */
  create: number;
  /** Old-revision pods to delete. */
  delete: string[];
}

/**
 * One sync of the Deployment controller's rolling update (rolling.go): scale the
 * new ReplicaSet up within replicas + surge; if that did nothing, scale old
 * ones down, unhealthy pods first, keeping replicas - unavailable available.
 */
export function deploymentSync(
  spec: { replicas: number; maxSurge: IntOrPercent; maxUnavailable: IntOrPercent },
  oldPods: readonly PodState[],
  newPods: readonly PodState[],
): DeploymentAction {
  const { surge, unavailable } = resolveFenceposts(spec.maxSurge, spec.maxUnavailable, spec.replicas);
  const total = oldPods.length + newPods.length;
  const scaleUp = Math.min(spec.replicas + surge - total, spec.replicas - newPods.length);
  if (scaleUp > 0) return { create: scaleUp, delete: [] };
  if (oldPods.length === 0) return { create: 0, delete: [] };

  const minAvailable = spec.replicas - unavailable;
  const newUnavailable = newPods.filter((p) => !p.available).length;
  const maxScaledDown = total - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return { create: 0, delete: [] };
  const unhealthy = oldPods.filter((p) => !p.available).slice(0, maxScaledDown);
  const healthyOld = oldPods.filter((p) => p.available);
  const availableNow = healthyOld.length + newPods.filter((p) => p.available).length;
  const healthyDown = Math.min(healthyOld.length, Math.max(0, availableNow - minAvailable), maxScaledDown - unhealthy.length);
  return { create: 0, delete: [...unhealthy, ...healthyOld.slice(0, healthyDown)].map((p) => p.uid) };
}

export interface NodePods {
  node: string;
  old?: PodState;
  new?: PodState;
}

export interface DaemonSetAction {
  /** Nodes that get a new-revision pod. */
  create: string[];
  /** Old-revision pods to delete. */
  delete: string[];
}

/**
 * One sync of the DaemonSet controller's rolling update (surge 0): a node with
 * no pod gets the new one; old pods are deleted while fewer than maxUnavailable
 * nodes (percentages round up) are without an available pod.
 */
export function daemonSetSync(maxUnavailable: IntOrPercent, nodes: readonly NodePods[]): DaemonSetAction {
  const limit = Math.max(1, scaled(maxUnavailable, nodes.length, true));
  const create = nodes.filter((n) => !n.old && !n.new).map((n) => n.node);
  let unavailableNodes = nodes.filter((n) => !(n.old?.available || n.new?.available)).length;
  const del: string[] = [];
  for (const n of nodes) {
    if (!n.old || n.new) continue;
    if (!n.old.available) {
      del.push(n.old.uid);
      continue;
    }
    if (unavailableNodes >= limit) continue;
    del.push(n.old.uid);
    unavailableNodes++;
  }
  return { create, delete: del };
}
