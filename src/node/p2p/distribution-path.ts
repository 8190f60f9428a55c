// The OCI distribution paths a node's runtime sends to its P2P agent (the agent is a mirror in hosts.toml).
export interface DistributionPath {
  /** Repository name, e.g. `demo/app`. */
  name: string;
  kind: 'manifests' | 'blobs';
  /** A tag or a digest. */
  reference: string;
  /** The registry the mirror is asked for (`?ns=`, which containerd adds for a mirror). */
  registry: string | undefined;
}

const PATH = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/;

export const isDigest = (ref: string): boolean => /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(ref);

/** As Spegel's oci.ParseDistributionPath: undefined for anything else (answered 404). */
export function parseDistributionPath(url: string): DistributionPath | undefined {
  const u = new URL(url, 'http://agent');
  const m = PATH.exec(u.pathname);
  if (!m) return undefined;
  return { name: m[1]!, kind: m[2] as 'manifests' | 'blobs', reference: m[3]!, registry: u.searchParams.get('ns') ?? undefined };
}

/** The key a tag is advertised under: `registry/name:tag`, as Spegel advertises an image's tag name. */
export const tagKey = (registry: string, name: string, tag: string): string => `${registry}/${name}:${tag}`;
