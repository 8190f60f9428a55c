import { PullbenchError, isPullbenchError } from '../../errors.js';

/**
 * The CRI error kubelet sees for a failed pull, shaped as containerd's CRI reports it, so kubelet messages read the
 * same on both runtimes; the model runtime raises the same.
 */
export function criError(image: string, err: unknown): PullbenchError {
  const cause = err as Error;
  const notFound = isPullbenchError(err, 'MANIFEST_UNKNOWN');
  const desc = notFound
    ? `failed to pull and unpack image "${image}": failed to resolve reference "${image}": ${image}: not found`
    : `failed to pull and unpack image "${image}": ${cause.message}`;
  return new PullbenchError('RUNTIME_ERROR', `rpc error: code = ${notFound ? 'NotFound' : 'Unknown'} desc = ${desc}`, {
    cause: err,
    details: { image, ...(isPullbenchError(err) ? { code: err.code, ...err.details } : {}) },
  });
}
