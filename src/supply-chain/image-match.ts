/**
 * Which images a policy covers, as the admission controllers decide it:
 * sigstore policy-controller's ClusterImagePolicy globs and Kyverno's
 * `verifyImages.imageReferences`. Each matches against its own spelling of
 * the image, so each has its subject function here beside its matcher.
 */
import { parseReference, type ImageReference } from '../oci/reference.js';

/** policy-controller `pkg/apis/glob` validGlob: reference characters and `*` only (no `@`). */
export const VALID_GLOB = /^[a-zA-Z0-9\-_:/*.]+$/;

/**
 * The name policy-controller matches globs against: go-containerregistry's
 * `ref.Name()` (Docker Hub as `index.docker.io`, with the tag, or the digest;
 * the webhook resolves tags to digests before validating).
 */
export function globSubject(ref: ImageReference, digest?: string): string {
  const name = ref.domain === 'docker.io' ? `index.docker.io/${ref.path}` : ref.name;
  const d = digest ?? ref.digest;
  return d ? `${name}@${d}` : `${name}:${ref.tag ?? 'latest'}`;
}

/**
 * policy-controller `glob.Compile` (pkg/apis/glob/glob.go): `.` literal, `**`
 * is `.*`, `*` is `[^/]*` (so `*` crosses `:` and `@` but not `/`), anchored at
 * both ends; a bare `*` means `index.docker.io/library/*` and `*\/*` means
 * `index.docker.io/*\/*`.
 */
export function globMatch(glob: string, subject: string): boolean {
  let re = GLOBS.get(glob);
  if (!re) {
    const g = glob === '*' ? 'index.docker.io/library/*' : glob === '*/*' ? 'index.docker.io/*/*' : glob;
    const source = g
      .split('**')
      .map((part) => part.split('*').map((lit) => lit.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*'))
      .join('.*');
    re = new RegExp(`^${source}$`);
    GLOBS.set(glob, re);
  }
  return re.test(subject);
}
const GLOBS = new Map<string, RegExp>();

/**
 * policy-controller `glob.Match(glob, image)`: the glob against `ref.Name()`,
 * then (deprecated fallback) against the image as written. An invalid glob or
 * reference matches nothing. The webhook passes `ref.Name()`, so there the
 * fallback never changes the answer.
 */
export function globMatchImage(glob: string, image: string): boolean {
  if (!VALID_GLOB.test(glob === '*' || glob === '*/*' ? 'x' : glob)) return false;
  let name: string;
  try {
    name = globSubject(parseReference(image));
  } catch {
    return false;
  }
  return globMatch(glob, name) || (name !== image && globMatch(glob, image));
}

/**
 * The string Kyverno matches `imageReferences` against: `ImageInfo.String()`
 * (kyverno pkg/utils/image/infos.go, GetImageInfo): `docker.io/` added when the
 * first segment is not a host (addDefaultRegistry), `library/` added to a
 * one-segment path, `:latest` when there is neither tag nor digest, and only the
 * digest when there is one. Other hosts stay as written (`index.docker.io` too).
 */
export function kyvernoSubject(image: string): string {
  const at = image.indexOf('@');
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  let name = at >= 0 ? image.slice(0, at) : image;
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  let tag: string | undefined;
  if (colon > slash) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  const first = name.indexOf('/');
  const head = first >= 0 ? name.slice(0, first) : '';
  const hasHost = first >= 0 && (/[.:]/.test(head) || head === 'localhost' || head.toLowerCase() !== head);
  const registry = hasHost ? head : 'docker.io';
  let path = hasHost ? name.slice(first + 1) : name;
  if (!path.includes('/')) path = `library/${path}`;
  return digest ? `${registry}/${path}@${digest}` : `${registry}/${path}:${tag ?? 'latest'}`;
}

/**
 * Kyverno's `wildcard.Match` (kyverno pkg/utils/wildcard/match.go): `*` any
 * run of characters including `/`, `?` exactly one character, everything else
 * literal (no escapes, no classes), anchored at both ends.
 */
export function kyvernoWildcard(pattern: string, subject: string): boolean {
  let re = WILDCARDS.get(pattern);
  if (!re) {
    const source = [...pattern].map((ch) => (ch === '*' ? '[\\s\\S]*' : ch === '?' ? '[\\s\\S]' : ch.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))).join('');
    re = new RegExp(`^${source}$`, 'u');
    WILDCARDS.set(pattern, re);
  }
  return re.test(subject);
}
const WILDCARDS = new Map<string, RegExp>();
