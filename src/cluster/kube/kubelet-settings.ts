/**
 * The scenario's kubelet and containerd settings on a real cluster: written into the cluster pullbench creates
 * (kind: a KubeletConfiguration patch and a containerd config patch; k3s: --kubelet-arg), refused where they cannot
 * be applied, and read back from each node's kubelet (/configz) for the results.
 */
import type { KubeletImagePullSettings } from '../../node/kubelet/config.js';
import { formatGoDuration } from '../../node/kubelet/duration.js';

/** What a scenario's cluster.kubelet may ask of a real cluster. */
export interface RealKubeletSettings extends KubeletImagePullSettings {
  maxConcurrentDownloads?: number | undefined;
  /** containerd's image_pull_progress_timeout, in ms. */
  imagePullProgressTimeout?: number | undefined;
  ensureSecretPulledImages?: boolean | undefined;
}

/** The containerd CRI settings that are set, as config lines of the version 2 `[plugins."io.containerd.grpc.v1.cri"]` table. */
function containerdFields(k: RealKubeletSettings): [field: string, line: string][] {
  const out: [string, string][] = [];
  if (k.maxConcurrentDownloads !== undefined) out.push(['maxConcurrentDownloads', `max_concurrent_downloads = ${k.maxConcurrentDownloads}`]);
  if (k.imagePullProgressTimeout !== undefined) {
    out.push(['imagePullProgressTimeout', `image_pull_progress_timeout = ${JSON.stringify(formatGoDuration(k.imagePullProgressTimeout))}`]);
  }
  return out;
}

/** KubeletConfiguration v1beta1 fields (their kubelet flags for k3s) of the settings that are set. */
function kubeletFields(k: RealKubeletSettings): [field: string, flag: string, value: unknown][] {
  const out: [string, string, unknown][] = [];
  if (k.serializeImagePulls !== undefined) out.push(['serializeImagePulls', 'serialize-image-pulls', k.serializeImagePulls]);
  if (k.maxParallelImagePulls !== undefined) out.push(['maxParallelImagePulls', 'max-parallel-image-pulls', k.maxParallelImagePulls]);
  if (k.registryPullQPS !== undefined) out.push(['registryPullQPS', 'registry-qps', k.registryPullQPS]);
  if (k.registryBurst !== undefined) out.push(['registryBurst', 'registry-burst', k.registryBurst]);
  return out;
}

/** The feature gate KEP-2535 sits behind (alpha in 1.33). */
const ENSURE_SECRET_GATE = 'KubeletEnsureSecretPulledImages';

/**
 * kind's cluster config patches: a kubeadm patch of kind `KubeletConfiguration` (kind merges it into every node's
 * kubelet config, https://kind.sigs.k8s.io/docs/user/configuration/#kubeadm-config-patches) and a containerd
 * config patch with CRI's max_concurrent_downloads and image_pull_progress_timeout (the config version 2 plugin name
 * kind's node images use; containerd 2.x migrates it to io.containerd.cri.v1.images).
 */
export function kindSettingsPatches(k: RealKubeletSettings): { kubeadmConfigPatches: string[]; containerdConfigPatches: string[] } {
  const fields = kubeletFields(k);
  const containerd = containerdFields(k);
  const lines = fields.map(([field, , value]) => `${field}: ${String(value)}`);
  if (k.ensureSecretPulledImages) lines.push('featureGates:', `  ${ENSURE_SECRET_GATE}: true`);
  return {
    kubeadmConfigPatches: lines.length ? [['kind: KubeletConfiguration', ...lines, ''].join('\n')] : [],
    containerdConfigPatches: containerd.length ? [['[plugins."io.containerd.grpc.v1.cri"]', ...containerd.map(([, line]) => `  ${line}`)].join('\n')] : [],
  };
}

/** A node pool of a kind cluster: its workers, and its kubelet settings (cluster.kubelet with the pool's own over it). */
export interface KindPool {
  name: string;
  workers: number;
  kubelet: RealKubeletSettings;
}

// The settings a pool sets to a value other than the cluster's: only these need anything per node.
function ownSettings(cluster: RealKubeletSettings, pool: RealKubeletSettings): (keyof RealKubeletSettings)[] {
  return (Object.keys(pool) as (keyof RealKubeletSettings)[]).filter((k) => pool[k] !== undefined && pool[k] !== cluster[k] && !(k === 'ensureSecretPulledImages' && !pool[k] && !cluster[k]));
}

/**
 * Per-pool settings kind cannot give one pool's nodes only, each with why. kind's containerdConfigPatches apply to
 * every node (no per-node form), and `kubeadm join` takes a worker's KubeletConfiguration from the cluster's
 * kubelet-config ConfigMap (a per-node KubeletConfiguration patch is ignored), so only settings that have a kubelet
 * flag can differ per pool (JoinConfiguration kubeletExtraArgs); maxParallelImagePulls has none.
 */
export function unappliablePoolSettings(cluster: RealKubeletSettings, pool: RealKubeletSettings): { field: string; why: string }[] {
  const out: { field: string; why: string }[] = [];
  for (const field of ownSettings(cluster, pool)) {
    if (field === 'maxConcurrentDownloads' || field === 'imagePullProgressTimeout') {
      out.push({ field, why: `kind writes containerd's config for every node alike (containerdConfigPatches has no per-node form): set ${field} in cluster.kubelet, or run the pools with driver emulated` });
    } else if (field === 'maxParallelImagePulls') {
      out.push({ field, why: "maxParallelImagePulls is a KubeletConfiguration field without a kubelet flag, and kind's workers take their KubeletConfiguration from the cluster (kubeadm join): set it in cluster.kubelet, or run the pools with driver emulated" });
    }
  }
  return out;
}

/**
 * The kubelet flags a kind worker of this pool is started with (JoinConfiguration nodeRegistration.kubeletExtraArgs,
 * in the map form of kind's kubeadm v1beta3 template), for the settings the pool does not share with the cluster;
 * flags win over the cluster's KubeletConfiguration. Settings without a flag are refused by unappliablePoolSettings.
 */
export function kindPoolKubeletArgs(cluster: RealKubeletSettings, pool: RealKubeletSettings): Record<string, string> {
  const own = new Set<string>(ownSettings(cluster, pool));
  const args: Record<string, string> = {};
  for (const [field, flag, value] of kubeletFields(pool)) if (own.has(field) && field !== 'maxParallelImagePulls') args[flag] = String(value);
  if (own.has('ensureSecretPulledImages')) args['feature-gates'] = `${ENSURE_SECRET_GATE}=${String(Boolean(pool.ensureSecretPulledImages))}`;
  return args;
}

/**
 * Kubelet has no command-line flag for maxParallelImagePulls: it is a KubeletConfiguration field only (cmd/kubelet/app/options/options.go,
 * AddKubeletConfigFlags, registers serialize-image-pulls, registry-qps and registry-burst, and no max-parallel-image-pulls), so a
 * `--kubelet-arg=max-parallel-image-pulls=N` would stop the kubelet at "unknown flag".
 */
const CONFIG_ONLY = new Set(['maxParallelImagePulls']);

/** k3s server arguments: each kubelet setting as `--kubelet-arg=<flag>=<value>` (config-only fields are refused by unappliableSettings). */
export function k3sKubeletArgs(k: RealKubeletSettings): string[] {
  const args = kubeletFields(k).filter(([field]) => !CONFIG_ONLY.has(field)).map(([, flag, value]) => `--kubelet-arg=${flag}=${String(value)}`);
  if (k.ensureSecretPulledImages) args.push(`--kubelet-arg=feature-gates=${ENSURE_SECRET_GATE}=true`);
  return args;
}

/**
 * The settings a driver cannot apply, each with why: an existing cluster (kubeconfig) takes none; k3s has no
 * containerd setting pullbench can write safely (its containerd config is a template of k3s's own version, and a
 * second [plugins."io.containerd.grpc.v1.cri"] table in it would not parse).
 */
export function unappliableSettings(driver: 'kind' | 'k3s' | 'kubeconfig', k: RealKubeletSettings): { field: string; why: string }[] {
  const containerd = containerdFields(k).map(([field]) => field);
  const set = [...kubeletFields(k).map(([field]) => field), ...containerd, ...(k.ensureSecretPulledImages ? ['ensureSecretPulledImages'] : [])];
  if (driver === 'kubeconfig') {
    return set.map((field) => ({ field, why: `an existing cluster (driver kubeconfig) keeps its nodes' own kubelet and containerd settings; remove ${field} (results.json records what the nodes run with)` }));
  }
  if (driver === 'k3s') {
    const configOnly = kubeletFields(k).filter(([field]) => CONFIG_ONLY.has(field)).map(([field]) => ({
      field,
      why: `${field} is a KubeletConfiguration field with no kubelet flag, and k3s takes kubelet settings as --kubelet-arg flags; remove ${field} or use driver kind (which patches the KubeletConfiguration)`,
    }));
    return [...configOnly, ...containerd.map((field) => ({ field, why: `k3s's containerd config is generated from a template of its own version, which pullbench does not rewrite; remove ${field} or use driver kind` }))];
  }
  return [];
}

/**
 * The image-pull settings a node's kubelet runs with, from its /configz answer (`{"kubeletconfig": {...}}`, the
 * effective KubeletConfiguration after defaulting), as results record them.
 */
export function kubeletSettingsFromConfigz(body: unknown): Record<string, string> {
  const kc = (body as { kubeletconfig?: Record<string, unknown> } | null)?.kubeletconfig;
  if (!kc || typeof kc !== 'object') return {};
  const out: Record<string, string> = {};
  for (const field of ['serializeImagePulls', 'maxParallelImagePulls', 'registryPullQPS', 'registryBurst']) {
    if (kc[field] !== undefined && kc[field] !== null) out[`kubelet.${field}`] = String(kc[field]);
  }
  const gates = kc.featureGates as Record<string, unknown> | undefined;
  if (gates?.[ENSURE_SECRET_GATE] !== undefined) out['kubelet.ensureSecretPulledImages'] = String(gates[ENSURE_SECRET_GATE]);
  return out;
}

/** The settings of several nodes as one record: a field's distinct values, sorted and joined (a mixed cluster shows both). */
export function mergeNodeSettings(perNode: Record<string, string>[]): Record<string, string> {
  const values = new Map<string, Set<string>>();
  for (const node of perNode) for (const [k, v] of Object.entries(node)) (values.get(k) ?? values.set(k, new Set()).get(k)!).add(v);
  return Object.fromEntries([...values].map(([k, v]) => [k, [...v].sort().join(', ')]));
}
