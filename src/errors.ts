/**
 * The one error type the pullbench library throws. Commands map `code` to an
 * exit code and a message in one place (src/cli/exit-codes.ts); tests
 * assert the code, never the message.
 *
 * Add codes here, grouped by area, rather than inventing new error classes.
 */
export type PullbenchErrorCode =
  // generic
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'INTERNAL'
  | 'INTERRUPTED'
  | 'RESOURCES_EXCEEDED'
  | 'TIMEOUT'
  | 'TOOL_MISSING'
  | 'PROCESS_FAILED'
  // OCI references, manifests, registry client
  | 'INVALID_IMAGE_NAME'
  | 'INVALID_DIGEST'
  | 'INVALID_MANIFEST'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'MANIFEST_UNKNOWN'
  | 'BLOB_UNKNOWN'
  | 'PLATFORM_NOT_FOUND'
  | 'REGISTRY_UNAUTHORIZED'
  | 'REGISTRY_DENIED'
  | 'REGISTRY_TOO_MANY_REQUESTS'
  | 'REGISTRY_ERROR'
  | 'REGISTRY_UNREACHABLE'
  | 'INVALID_CREDENTIALS_FILE'
  | 'INVALID_HOSTS_TOML'
  | 'INVALID_IMAGE_LAYOUT'
  // registry server and providers
  | 'REGISTRY_START_FAILED'
  | 'INVALID_USERS_FILE'
  // node and runtimes
  | 'RUNTIME_ERROR'
  | 'RUNTIME_START_FAILED'
  | 'RUNTIME_CANCELED'
  // scenario files
  | 'SCENARIO_INVALID'
  | 'SCENARIO_NOT_FOUND'
  | 'SCENARIO_ENV_MISSING'
  // run outcomes
  | 'THRESHOLD_FAILED'
  | 'FAILURE_RATE_EXCEEDED'
  | 'RUN_INVALID'
  | 'REGRESSION'
  | 'INCONCLUSIVE'
  | 'NOT_COMPARABLE'
  // supply chain
  | 'KEY_INVALID'
  | 'KEY_PASSWORD_WRONG'
  | 'TRUSTED_ROOT_INVALID'
  | 'NO_SIGNATURES'
  | 'NO_MATCHING_SIGNATURE'
  | 'NO_CERTIFICATE'
  | 'NO_MATCHING_ATTESTATION'
  | 'POLICY_INVALID'
  | 'POLICY_DENIED'
  | 'POLICY_LINT_FAILED'
  // clusters
  | 'CLUSTER_ERROR'
  | 'DRIVER_UNAVAILABLE';

export interface PullbenchErrorOptions {
  cause?: unknown;
  /** Structured context for --json output. Never put secrets here. */
  details?: Record<string, unknown>;
}

export class PullbenchError extends Error {
  override readonly name = 'PullbenchError';
  readonly code: PullbenchErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: PullbenchErrorCode, message: string, options: PullbenchErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  toJSON(): { code: PullbenchErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isPullbenchError(err: unknown, code?: PullbenchErrorCode): err is PullbenchError {
  return err instanceof PullbenchError && (code === undefined || err.code === code);
}
