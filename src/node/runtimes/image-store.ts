// The embedded runtime's image table: which names and digests a node holds, and how CRI reports them (ImageStatus,
// ListImages, RemoveImage). The content those images use lives in the runtime's content store (embedded.ts).
import { isPullbenchError } from '../../errors.js';
import { parseReference, type ImageReference } from '../../oci/reference.js';
import type { ImageInfo } from '../runtime.js';

export interface ImageRecord {
  /** Normalised name with tag, or name@digest when pulled by digest. */
  key: string;
  name: string;
  tag?: string;
  /** The resolved target (manifest, or index): what repoDigests name. */
  manifestDigest: string;
  configDigest: string;
  /** Every content digest the image holds (index, manifest, config, layers). */
  content: string[];
  size: number;
}

/** Images by reference, as containerd's image store keeps them: one record per name, several names per image id. */
export class ImageStore {
  private readonly images = new Map<string, ImageRecord>();

  /** Records a pulled image under its reference (name:tag, or name@digest when pulled by digest). */
  add(ref: ImageReference, record: Omit<ImageRecord, 'key' | 'name' | 'tag'>): void {
    const key = ref.digest ? `${ref.name}@${ref.digest}` : `${ref.name}:${ref.tag}`;
    this.images.set(key, { ...record, key, name: ref.name, ...(ref.digest ? {} : { tag: ref.tag }) });
  }

  /** The image a CRI request names: an image id, name:tag, or name@digest (of the record or of its target). */
  find(image: string): ImageRecord | undefined {
    if (/^sha256:[a-f0-9]{64}$/.test(image)) {
      return [...this.images.values()].find((r) => r.configDigest === image);
    }
    let ref: ImageReference;
    try {
      ref = parseReference(image);
    } catch (err) {
      if (isPullbenchError(err, 'INVALID_IMAGE_NAME')) return undefined;
      throw err;
    }
    if (ref.digest) {
      return (
        this.images.get(`${ref.name}@${ref.digest}`) ??
        [...this.images.values()].find((r) => r.name === ref.name && r.manifestDigest === ref.digest)
      );
    }
    return this.images.get(`${ref.name}:${ref.tag}`);
  }

  /** Drops every name of the image `rec` belongs to, and returns the content digests the remaining images use. */
  remove(rec: ImageRecord): Set<string> {
    for (const [key, r] of this.images) if (r.configDigest === rec.configDigest) this.images.delete(key);
    return new Set([...this.images.values()].flatMap((r) => r.content));
  }

  /** One entry per image id, as ListImages reports. */
  list(): ImageInfo[] {
    const byId = new Map<string, ImageRecord>();
    for (const rec of this.images.values()) if (!byId.has(rec.configDigest)) byId.set(rec.configDigest, rec);
    return [...byId.values()].map((r) => this.info(r));
  }

  /** The image as CRI reports it: every tag and repo digest that names its id. */
  info(rec: ImageRecord): ImageInfo {
    const same = [...this.images.values()].filter((r) => r.configDigest === rec.configDigest);
    return {
      id: rec.configDigest,
      size: rec.size,
      repoTags: same.filter((r) => r.tag !== undefined).map((r) => `${r.name}:${r.tag}`),
      repoDigests: [...new Set(same.map((r) => `${r.name}@${r.manifestDigest}`))],
    };
  }
}
