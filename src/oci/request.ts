// The request a RegistryClient sends, and the PullbenchError a failed response becomes:
// shared by the client and its Pusher, so neither imports the other's internals.
import type { Readable } from 'node:stream';
import { PullbenchError, type PullbenchErrorCode } from '../errors.js';
import type { HttpRequest, HttpResponse } from '../net/http-pool.js';
import type { Descriptor } from './media-types.js';
import { ERROR_BODY_LIMIT, readLimited } from './response-body.js';

export const PULL = ['pull'] as const;
export const PUSH = ['pull', 'push'] as const;

export interface RequestSpec {
  method: string;
  /** Path under the base URL (`/v2/...`) or an absolute URL (upload locations). */
  url: string;
  repo: string;
  actions: readonly string[];
  /** Additional scopes, e.g. pull on the repository a blob is mounted from. */
  extraScopes?: string[];
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  saveTo?: HttpRequest['saveTo'];
  what: string;
}

/** What the push path needs of a client: authorized requests and the blob HEAD (skip what the registry has). */
export interface RegistrySession {
  readonly baseUrl: string;
  send(spec: RequestSpec): Promise<HttpResponse>;
  headBlob(repo: string, digest: string): Promise<Descriptor | undefined>;
}

/** A non-success response as a PullbenchError (code from the status and the OCI error body); `notFound` is the 404 code. */
export async function registryFailure(res: HttpResponse, what: string, notFound: PullbenchErrorCode): Promise<never> {
  const text = (await readLimited(res, ERROR_BODY_LIMIT, what, true)).toString('utf8');
  let registryCode: string | undefined;
  let registryMessage: string | undefined;
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    registryCode = body.errors?.[0]?.code;
    registryMessage = body.errors?.[0]?.message;
  } catch {
    /* not an OCI error body */
  }
  const status = res.status;
  let code: PullbenchErrorCode = 'REGISTRY_ERROR';
  if (status === 401) code = 'REGISTRY_UNAUTHORIZED';
  else if (status === 403) code = 'REGISTRY_DENIED';
  else if (status === 429) code = 'REGISTRY_TOO_MANY_REQUESTS';
  else if (registryCode === 'DIGEST_INVALID') code = 'DIGEST_MISMATCH';
  else if (registryCode === 'SIZE_INVALID') code = 'SIZE_MISMATCH';
  else if (registryCode === 'MANIFEST_INVALID' || registryCode === 'MANIFEST_BLOB_UNKNOWN') code = 'INVALID_MANIFEST';
  else if (status === 404) code = registryCode === 'BLOB_UNKNOWN' ? 'BLOB_UNKNOWN' : registryCode === 'MANIFEST_UNKNOWN' ? 'MANIFEST_UNKNOWN' : notFound;
  const retryAfter = res.headers.get('retry-after');
  const detail = registryCode ? `${registryCode}${registryMessage ? `: ${registryMessage}` : ''}` : `HTTP ${status}`;
  throw new PullbenchError(code, `${what}: ${detail}`, {
    details: { status, ...(registryCode ? { registryCode } : {}), ...(retryAfter ? { retryAfter } : {}) },
  });
}

export function pullbenchCause(err: unknown): PullbenchError | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof PullbenchError) return e;
  }
  return undefined;
}
