import { isPullbenchError } from '../../errors.js';
import { parseReference } from '../../oci/reference.js';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/**
 * The API server's defaulting at pod creation, per container (pkg/apis/core/v1/defaults.go SetDefaults_Container,
 * unchanged 1.31-1.35): the tag pkg/util/parsers ParseImageName gives (`latest` when there is neither tag nor digest)
 * is `latest` -> Always, anything else (another tag, or a digest alone) -> IfNotPresent. An unparseable name gets
 * IfNotPresent (the parse error is ignored there) and fails later as InvalidImageName.
 */
export function defaultPullPolicy(image: string): PullPolicy {
  try {
    return parseReference(image).tag === 'latest' ? 'Always' : 'IfNotPresent';
  } catch (err) {
    if (isPullbenchError(err, 'INVALID_IMAGE_NAME')) return 'IfNotPresent';
    throw err;
  }
}

/** kubelet's shouldPullImage: Never never pulls, Always always does, IfNotPresent only when absent. */
export function shouldPullImage(policy: PullPolicy, present: boolean): boolean {
  if (policy === 'Never') return false;
  if (policy === 'Always') return true;
  return !present;
}

/**
 * kubelet's applyDefaultImageTag: the image as the user wrote it, with `:latest`
 * appended when it has neither tag nor digest. Throws INVALID_IMAGE_NAME.
 */
export function applyDefaultImageTag(image: string): string {
  const ref = parseReference(image);
  if (ref.digest === undefined && ref.tag === 'latest' && !/:latest$/.test(image)) return `${image}:latest`;
  return image;
}
