import { RegistryClient } from '../oci/client.js';
import { isIndexMediaType, MANIFEST_ACCEPT, type Descriptor, type ImageIndex } from '../oci/media-types.js';
import { hostPlatform, selectPlatform } from '../oci/platform.js';
import type { BasicCredentials } from '../oci/credentials.js';
import type { StartedRegistry } from '../registry/provider.js';

/** What a node fetches for one image, digests and sizes as the registry holds them. */
export interface CatalogImage {
  /** Repository path, e.g. `scale/svc-1`. */
  repo: string;
  /** What the tag resolves to (an index for a multi-platform image). */
  root: Descriptor;
  /** The platform's manifest when `root` is an index. */
  manifest?: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
}

/** Scenario ref (`repo:tag`) -> what a node pulls for it. */
export type Catalog = Map<string, CatalogImage>;

/** Reads every seeded image back from the registry, as a node on this platform would see it. */
export async function readCatalog(registry: StartedRegistry, refs: readonly string[], credentials?: BasicCredentials): Promise<Catalog> {
  await using client = new RegistryClient({ baseUrl: registry.url, ...(credentials ? { credentials } : {}) });
  const catalog: Catalog = new Map();
  for (const ref of refs) {
    const i = ref.lastIndexOf(':');
    const repo = ref.slice(0, i);
    const root = await client.resolve(repo, ref.slice(i + 1), MANIFEST_ACCEPT);
    let top = await client.getManifest(repo, root.digest, MANIFEST_ACCEPT);
    let manifest: Descriptor | undefined;
    if (isIndexMediaType(root.mediaType)) {
      manifest = selectPlatform(JSON.parse(top.bytes.toString('utf8')) as ImageIndex, hostPlatform());
      top = await client.getManifest(repo, manifest.digest, MANIFEST_ACCEPT);
    }
    const parsed = JSON.parse(top.bytes.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
    const strip = (d: Descriptor): Descriptor => ({ mediaType: d.mediaType, digest: d.digest, size: d.size });
    catalog.set(ref, {
      repo,
      root: strip(root),
      ...(manifest ? { manifest: strip(manifest) } : {}),
      config: strip(parsed.config),
      layers: parsed.layers.map(strip),
    });
  }
  return catalog;
}
