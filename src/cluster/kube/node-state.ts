import { containerdProfile, DEFAULT_CONTAINERD_VERSION, DEFAULT_KUBERNETES_VERSION, kubeletProfile } from '../../node/profiles.js';
import { PullbenchError } from '../../errors.js';

/** The part of a Node that says which images it holds and what it runs. */
export interface NodeLike {
  metadata?: { name?: string };
  status?: {
    images?: Array<{ names?: string[] | null; sizeBytes?: number }> | null;
    nodeInfo?: { containerRuntimeVersion?: string; kubeletVersion?: string };
  };
}

/** Both spellings a node may list an image under: `docker.io/library/x:tag` and `x:tag`. */
export function imageAliases(ref: string): string[] {
  const out = new Set([ref]);
  const firstSlash = ref.indexOf('/');
  const first = firstSlash === -1 ? '' : ref.slice(0, firstSlash);
  const hasDomain = first.includes('.') || first.includes(':') || first === 'localhost';
  if (!hasDomain) {
    out.add(firstSlash === -1 ? `docker.io/library/${ref}` : `docker.io/${ref}`);
  } else if (first === 'docker.io') {
    const rest = ref.slice(firstSlash + 1);
    out.add(rest);
    if (rest.startsWith('library/')) out.add(rest.slice('library/'.length));
  }
  return [...out];
}

/** Which of `images` each node still lists in `status.images` (the kubelet's own view of its cache). */
export function imagesPresent(nodes: NodeLike[], images: string[]): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const node of nodes) {
    const names = new Set((node.status?.images ?? []).flatMap((i) => i.names ?? []));
    result[node.metadata?.name ?? '?'] = images.filter((img) => imageAliases(img).some((a) => names.has(a)));
  }
  return result;
}

/** True when no node lists any of the images. */
export function cacheIsCold(nodes: NodeLike[], images: string[]): boolean {
  return Object.values(imagesPresent(nodes, images)).every((present) => present.length === 0);
}

/** True when every node lists every image (what a warm arm must show before it starts). */
export function cacheIsWarm(nodes: NodeLike[], images: string[]): boolean {
  return Object.values(imagesPresent(nodes, images)).every((present) => present.length === images.length);
}

/** What results are marked with: the cluster's version and its nodes' runtimes. */
export interface ClusterVersions {
  kubernetes: string;
  /** Distinct `containerRuntimeVersion`s, e.g. ["containerd://1.7.18"]. */
  containerRuntimes: string[];
  kubelets: string[];
  /** The modelled releases nearest the nodes' own (profiles.ts), by which their events are read and results marked. */
  kubeletProfile: string;
  containerdProfile?: string;
  /** The nodes' effective kubelet image-pull settings, read from each kubelet's /configz (`kubelet.<field>`). */
  settings?: Record<string, string>;
}

export function clusterVersions(gitVersion: string, nodes: NodeLike[]): ClusterVersions {
  const uniq = (xs: Array<string | undefined>): string[] => [...new Set(xs.filter((x): x is string => !!x))].sort();
  const containerRuntimes = uniq(nodes.map((n) => n.status?.nodeInfo?.containerRuntimeVersion));
  const kubelets = uniq(nodes.map((n) => n.status?.nodeInfo?.kubeletVersion));
  // The oldest kubelet and containerd decide: what a mixed cluster may do is what its oldest node does.
  const oldest = (versions: string[]): string | undefined => versions.map((v) => v.replace(/^[a-z]+:\/\//, '')).sort(compareVersions)[0];
  const kubelet = oldest(kubelets) ?? gitVersion;
  const containerd = oldest(containerRuntimes.filter((r) => r.startsWith('containerd://')));
  return {
    kubernetes: gitVersion,
    containerRuntimes,
    kubelets,
    kubeletProfile: safeProfile(() => kubeletProfile(kubelet, true).version) ?? DEFAULT_KUBERNETES_VERSION,
    ...(containerd ? { containerdProfile: safeProfile(() => containerdProfile(containerd, true).version) ?? DEFAULT_CONTAINERD_VERSION } : {}),
  };
}

function compareVersions(a: string, b: string): number {
  const parts = (v: string): number[] => (/(\d+)\.(\d+)(?:\.(\d+))?/.exec(v) ?? []).slice(1).map((x) => Number(x ?? 0));
  const [pa, pb] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

// A version string that is not one (a distribution's own scheme) leaves the default profile.
function safeProfile(pick: () => string): string | undefined {
  try {
    return pick();
  } catch {
    return undefined;
  }
}

/** Fails with CLUSTER_ERROR naming the nodes that still hold images. */
export function assertCold(nodes: NodeLike[], images: string[]): void {
  const left = Object.entries(imagesPresent(nodes, images)).filter(([, p]) => p.length > 0);
  if (left.length > 0) {
    throw new PullbenchError('CLUSTER_ERROR', `cache is not cold: ${left.map(([n, p]) => `${n} still has ${p.join(', ')}`).join('; ')}`, {
      details: { nodes: Object.fromEntries(left) },
    });
  }
}
