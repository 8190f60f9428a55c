// What the embedded runtime's pull reads out of the bytes it fetched: the manifest's config and layers, the config's
// diff ids, an index told apart from a manifest. Malformed input is INVALID_MANIFEST, as containerd fails the pull.
import { PullbenchError } from '../../errors.js';
import { MediaType, type Descriptor } from '../../oci/media-types.js';

const LAYER_TYPES = new Set<string>([
  MediaType.OciLayerGzip,
  MediaType.DockerLayerGzip,
  MediaType.OciLayerZstd,
  MediaType.OciLayerTar,
  MediaType.DockerForeignLayerGzip,
]);

export function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (err) {
    throw new PullbenchError('INVALID_MANIFEST', `${what} is not valid JSON`, { cause: err });
  }
}

/** An image manifest's config and layers, each layer of a media type the runtime can unpack. */
export function manifestParts(bytes: Buffer, digest: string): { config: Descriptor; layers: Descriptor[] } {
  const manifest = parseJson<{ config?: Descriptor; layers?: Descriptor[] }>(bytes, 'image manifest');
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new PullbenchError('INVALID_MANIFEST', `manifest ${digest} has no config or layers`);
  }
  for (const l of manifest.layers) {
    if (!LAYER_TYPES.has(l.mediaType)) throw new PullbenchError('INVALID_MANIFEST', `unsupported layer media type ${l.mediaType}`);
  }
  return { config: manifest.config, layers: manifest.layers };
}

/** The config's rootfs.diff_ids, one per layer, as containerd's unpacker requires. */
export function diffIdsOf(config: Buffer, layers: number): string[] {
  const diffIds = parseJson<{ rootfs?: { diff_ids?: unknown } }>(config, 'image config').rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== layers || !diffIds.every((d) => typeof d === 'string')) {
    throw new PullbenchError('INVALID_MANIFEST', `image config has ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff_ids for ${layers} layers`);
  }
  return diffIds as string[];
}

/** The mediaType a document declares, if it parses. */
export function mediaTypeOf(bytes: Buffer): string | undefined {
  try {
    return (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType;
  } catch {
    return undefined;
  }
}
