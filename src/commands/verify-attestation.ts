import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { credentialsFrom } from '../cli/credential-flags.js';
import { ExitCode, exitCodeFor } from '../cli/exit-codes.js';
import { verifyFlags, verifySettingsOf } from '../cli/verify-flags.js';
import { PullbenchError, type PullbenchErrorCode } from '../errors.js';
import { verifyAttestations, type AttestationVerification } from '../supply-chain/attestation.js';
import { loadVerifyOptions } from '../supply-chain/options.js';
import { checklist } from '../supply-chain/render.js';

export default class VerifyAttestation extends BaseCommand {
  static override summary = 'Verify cosign attestations of an image, offline, and print their in-toto statements (exit codes as cosign: 1 none matched, 11 tag not found)';
  static override examples = [
    '<%= config.bin %> verify-attestation 127.0.0.1:5000/app:v1 --key cosign.pub --type vuln --insecure-ignore-tlog',
    '<%= config.bin %> verify-attestation ghcr.io/org/app@sha256:... --type slsaprovenance1 --certificate-identity-regexp ^https://github.com/org/ --certificate-oidc-issuer https://token.actions.githubusercontent.com --trusted-root trusted_root.json',
  ];
  static override args = { image: Args.string({ required: true, description: 'image reference' }) };
  static override flags = {
    ...verifyFlags,
    type: Flags.string({ default: 'custom', description: 'predicate type to return: a cosign type name or a URI (cosign default: custom)' }),
  };

  private notFound = false;

  async run(): Promise<AttestationVerification> {
    const { args, flags } = await this.parse(VerifyAttestation);
    const opts = await loadVerifyOptions(verifySettingsOf(flags));
    const credentials = credentialsFrom('registry', flags);
    this.notFound = true;
    const result = await verifyAttestations(args.image, { ...opts, type: flags.type, access: { ...(credentials ? { credentials } : {}), plainHttp: flags['plain-http'] } });
    this.notFound = false;
    this.logToStderr(checklist({ image: result.image, decision: result.decision, verified: result.attestations, rejected: result.rejected }, opts));
    if (result.decision !== 'verified') {
      const why =
        result.decision === 'no-matching-predicate'
          ? `none of the attestations matched the predicate type: ${flags.type}, found: ${result.predicateTypes.join(',')}`
          : `no matching attestations${result.decision === 'no-attestations' ? ' (none found)' : ''}`;
      throw new PullbenchError('NO_MATCHING_ATTESTATION', `${result.image}: ${why}`, { details: { image: result.image, decision: result.decision, rejected: result.rejected } });
    }
    if (!this.jsonEnabled()) for (const a of result.attestations) this.log(JSON.stringify(a.statement));
    return result;
  }

  protected override exitCodeForError(code: PullbenchErrorCode): number {
    // cosign exits 11 when the image (tag) itself is not found (pkg/cosign/verify.go GetBundles).
    if (code === 'MANIFEST_UNKNOWN' && this.notFound) return ExitCode.TAG_NOT_FOUND;
    return exitCodeFor(code);
  }
}
