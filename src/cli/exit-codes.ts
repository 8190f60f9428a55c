import type { PullbenchErrorCode } from '../errors.js';

/**
 * Exit codes, in one place. docs/exit-codes.md mirrors this table.
 * `pullbench verify` overrides with cosign's codes (10-13) for its own errors.
 */
export const ExitCode = {
  OK: 0,
  ERROR: 1,
  BAD_INPUT: 2,
  THRESHOLD_FAILED: 3,
  REGRESSION: 4,
  FAILURE_RATE: 5,
  RUN_INVALID: 6,
  POLICY_DENIED: 7,
  UNAVAILABLE: 8,
  INCONCLUSIVE: 9,
  NO_SIGNATURES: 10,
  TAG_NOT_FOUND: 11,
  NO_MATCHING_SIGNATURE: 12,
  NO_CERTIFICATE: 13,
  INTERRUPTED: 130,
} as const;

const BY_CODE: Partial<Record<PullbenchErrorCode, number>> = {
  INVALID_ARGUMENT: ExitCode.BAD_INPUT,
  INVALID_IMAGE_NAME: ExitCode.BAD_INPUT,
  INVALID_DIGEST: ExitCode.BAD_INPUT,
  INVALID_CREDENTIALS_FILE: ExitCode.BAD_INPUT,
  INVALID_HOSTS_TOML: ExitCode.BAD_INPUT,
  INVALID_IMAGE_LAYOUT: ExitCode.BAD_INPUT,
  INVALID_USERS_FILE: ExitCode.BAD_INPUT,
  SCENARIO_INVALID: ExitCode.BAD_INPUT,
  SCENARIO_NOT_FOUND: ExitCode.BAD_INPUT,
  SCENARIO_ENV_MISSING: ExitCode.BAD_INPUT,
  KEY_INVALID: ExitCode.BAD_INPUT,
  KEY_PASSWORD_WRONG: ExitCode.BAD_INPUT,
  TRUSTED_ROOT_INVALID: ExitCode.BAD_INPUT,
  POLICY_INVALID: ExitCode.BAD_INPUT,
  THRESHOLD_FAILED: ExitCode.THRESHOLD_FAILED,
  REGRESSION: ExitCode.REGRESSION,
  INCONCLUSIVE: ExitCode.INCONCLUSIVE,
  FAILURE_RATE_EXCEEDED: ExitCode.FAILURE_RATE,
  RUN_INVALID: ExitCode.RUN_INVALID,
  NOT_COMPARABLE: ExitCode.RUN_INVALID,
  POLICY_DENIED: ExitCode.POLICY_DENIED,
  POLICY_LINT_FAILED: ExitCode.POLICY_DENIED,
  TOOL_MISSING: ExitCode.UNAVAILABLE,
  DRIVER_UNAVAILABLE: ExitCode.UNAVAILABLE,
  RESOURCES_EXCEEDED: ExitCode.UNAVAILABLE,
  NO_SIGNATURES: ExitCode.NO_SIGNATURES,
  NO_MATCHING_SIGNATURE: ExitCode.NO_MATCHING_SIGNATURE,
  NO_CERTIFICATE: ExitCode.NO_CERTIFICATE,
  // cosign verify-attestation exits 1 for ErrNoMatchingAttestations (cmd/cosign/errors LookupExitCodeForError).
  NO_MATCHING_ATTESTATION: ExitCode.ERROR,
  INTERRUPTED: ExitCode.INTERRUPTED,
};

export function exitCodeFor(code: PullbenchErrorCode): number {
  return BY_CODE[code] ?? ExitCode.ERROR;
}
