import { isDigest } from '../oci/digest.js';
import { MANIFEST_MEDIA_TYPES, MediaType, isIndexMediaType, type Descriptor } from '../oci/media-types.js';
import { RegistryHttpError } from './http-error.js';
import type { ManifestRecord } from './repositories.js';

/** A manifest that parsed and whose shape is valid. */
export interface ParsedManifest {
  mediaType: string;
  /** Blobs it needs in the repository (config and layers; not foreign layers). */
  blobs: Descriptor[];
  /** Child manifests it needs (image indexes). */
  children: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

function invalid(message: string, detail?: unknown): RegistryHttpError {
  return new RegistryHttpError('MANIFEST_INVALID', message, { detail });
}

function descriptor(value: unknown, where: string): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object' || typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || !isDigest(d.digest)) {
    throw invalid(`${where}: invalid descriptor`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw invalid(`${where}: invalid size`);
  return d as Descriptor;
}

/**
 * Parses and checks a pushed manifest: JSON, schemaVersion 2, a known media
 * type that agrees with Content-Type, and well-formed descriptors.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw invalid('manifest is not a JSON object');
  if (json.schemaVersion !== 2) throw invalid('only schemaVersion 2 manifests are supported');
  const declared = typeof json.mediaType === 'string' ? json.mediaType : undefined;
  const header = contentType?.split(';')[0]?.trim() || undefined;
  if (declared && header && declared !== header) {
    throw invalid('mediaType does not match Content-Type', { mediaType: declared, contentType: header });
  }
  const mediaType =
    declared ?? header ?? (Array.isArray(json.manifests) ? MediaType.OciIndex : MediaType.OciManifest);
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) throw invalid('unsupported manifest media type', { mediaType });
  const result: ParsedManifest = { mediaType, blobs: [], children: [] };
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(json.manifests)) throw invalid('index has no manifests list');
    result.children = json.manifests.map((m, i) => descriptor(m, `manifests[${i}]`));
  } else {
    const config = descriptor(json.config, 'config');
    if (!Array.isArray(json.layers)) throw invalid('manifest has no layers list');
    const layers = json.layers.map((l, i) => descriptor(l, `layers[${i}]`));
    result.blobs = [config, ...layers.filter((l) => !(Array.isArray(l.urls) && l.urls.length > 0))];
    result.artifactType = config.mediaType;
  }
  if (typeof json.artifactType === 'string') result.artifactType = json.artifactType;
  if (json.subject !== undefined) result.subject = descriptor(json.subject, 'subject');
  if (json.annotations && typeof json.annotations === 'object') result.annotations = json.annotations as Record<string, string>;
  return result;
}

/** The stored form of a manifest, with its referrers-API descriptor when it has a subject. */
export function manifestRecord(digest: string, bytes: Buffer, parsed: ParsedManifest): ManifestRecord {
  const { mediaType, subject, artifactType, annotations } = parsed;
  return {
    digest,
    mediaType,
    bytes,
    subject: subject?.digest,
    referrerDescriptor: subject
      ? { mediaType, digest, size: bytes.length, ...(artifactType ? { artifactType } : {}), ...(annotations ? { annotations } : {}) }
      : undefined,
  };
}
