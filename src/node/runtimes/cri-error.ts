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
  // A pull its progress check cancelled wraps context.Canceled, which errdefs.ToGRPC maps to codes.Canceled
  // (errdefs/grpc.go ToGRPC, IsCanceled): `rpc error: code = Canceled desc = failed to pull and unpack image "x":
  // context canceled`, as containerd's integration test image_pull_timeout_test.go expects it.
  const code = notFound ? 'NotFound' : isPullbenchError(err, 'RUNTIME_CANCELED') ? 'Canceled' : 'Unknown';
  return new PullbenchError('RUNTIME_ERROR', `rpc error: code = ${code} desc = ${desc}`, {
    cause: err,
    details: { image, ...(isPullbenchError(err) ? { code: err.code, ...err.details } : {}) },
  });
}
