import { isDigest } from '../oci/digest.js';
import { RegistryHttpError } from './http-error.js';

/** One path component of a repository name (OCI Distribution Spec). */
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const UPLOAD_ID_RE = /^[a-f0-9-]{36}$/;
const MAX_NAME_LENGTH = 255;

export type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'token' }
  | { kind: 'metrics' }
  | { kind: 'manifest'; name: string; reference: string; isDigest: boolean }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string };

export function isRepositoryName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

function isTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/**
 * Maps a raw request path (not percent-decoded: no valid name, tag or digest
 * contains `%`, so encoded traversal such as `%2e%2e` never matches) to a route.
 */
export function parseRoute(path: string): Route {
  if (path === '/v2/' || path === '/v2') return { kind: 'base' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  if (path === '/token') return { kind: 'token' };
  if (path === '/metrics') return { kind: 'metrics' };
  if (!path.startsWith('/v2/')) throw notFound();
  const rest = path.slice(4);
  const m = /^(.+?)\/(manifests|blobs|tags|referrers)\/(.*)$/.exec(rest);
  if (!m) throw notFound();
  const name = m[1]!;
  const section = m[2]!;
  const tail = m[3]!;
  if (!isRepositoryName(name)) {
    throw new RegistryHttpError('NAME_INVALID', 'invalid repository name', { detail: { name: name.slice(0, 300) } });
  }
  switch (section) {
    case 'manifests':
      if (isDigest(tail)) return { kind: 'manifest', name, reference: tail, isDigest: true };
      if (isTag(tail)) return { kind: 'manifest', name, reference: tail, isDigest: false };
      if (tail.includes(':')) throw digestInvalid(tail);
      throw new RegistryHttpError('MANIFEST_INVALID', 'invalid tag', { detail: { tag: tail.slice(0, 300) } });
    case 'blobs':
      if (tail === 'uploads/' || tail === 'uploads') return { kind: 'uploads', name };
      if (tail.startsWith('uploads/')) {
        const id = tail.slice('uploads/'.length);
        if (!UPLOAD_ID_RE.test(id)) throw new RegistryHttpError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown');
        return { kind: 'upload', name, id };
      }
      if (!isDigest(tail)) throw digestInvalid(tail);
      return { kind: 'blob', name, digest: tail };
    case 'tags':
      if (tail !== 'list') throw notFound();
      return { kind: 'tags', name };
    default:
      if (!isDigest(tail)) throw digestInvalid(tail);
      return { kind: 'referrers', name, digest: tail };
  }
}

function digestInvalid(value: string): RegistryHttpError {
  return new RegistryHttpError('DIGEST_INVALID', 'invalid digest', { detail: { digest: value.slice(0, 300) } });
}

function notFound(): RegistryHttpError {
  return new RegistryHttpError('NAME_UNKNOWN', 'not found', { status: 404 });
}
