import type { ServerResponse } from 'node:http';

/** Error codes of the OCI Distribution Spec (plus distribution's UNAVAILABLE for 503). */
export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'RANGE_INVALID'
  | 'PAGINATION_NUMBER_INVALID'
  | 'UNAVAILABLE'
  | 'UNKNOWN';

const DEFAULT_STATUS: Record<OciErrorCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  RANGE_INVALID: 416,
  PAGINATION_NUMBER_INVALID: 400,
  UNAVAILABLE: 503,
  UNKNOWN: 500,
};

/**
 * An error answered to a registry client as `{"errors":[{code,message,detail}]}`.
 * Thrown inside request handlers only; never escapes the server.
 */
export class RegistryHttpError extends Error {
  readonly status: number;
  constructor(
    readonly code: OciErrorCode,
    message: string,
    options: { status?: number; detail?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = options.status ?? DEFAULT_STATUS[code];
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }
  readonly detail: unknown;
  readonly headers: Record<string, string>;
}

/** Writes the standard OCI error body, unless the response has already started. */
export function sendError(res: ServerResponse, err: RegistryHttpError, head = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({
    errors: [{ code: err.code, message: err.message, detail: err.detail ?? null }],
  });
  res.writeHead(err.status, {
    ...err.headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Docker-Distribution-API-Version': 'registry/2.0',
  });
  res.end(head ? undefined : body);
}
