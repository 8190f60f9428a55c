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
}

export function clusterVersions(gitVersion: string, nodes: NodeLike[]): ClusterVersions {
  const uniq = (xs: Array<string | undefined>): string[] => [...new Set(xs.filter((x): x is string => !!x))].sort();
  return {
    kubernetes: gitVersion,
    containerRuntimes: uniq(nodes.map((n) => n.status?.nodeInfo?.containerRuntimeVersion)),
    kubelets: uniq(nodes.map((n) => n.status?.nodeInfo?.kubeletVersion)),
  };
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
