import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { credentialsFrom } from '../cli/credential-flags.js';
import { verifyFlags, verifySettingsOf } from '../cli/verify-flags.js';
import { ExitCode, exitCodeFor } from '../cli/exit-codes.js';
import { PullbenchError, type PullbenchErrorCode } from '../errors.js';
import { parseReference } from '../oci/reference.js';
import { verifyImage, type ImageVerification } from '../supply-chain/image.js';
import { loadVerifyOptions } from '../supply-chain/options.js';
import { checklist } from '../supply-chain/render.js';

export default class Verify extends BaseCommand {
  static override summary = 'Verify cosign signatures of an image, offline (exit codes as cosign: 10 none, 11 tag not found, 12 no match, 13 no certificate)';
  static override examples = [
    '<%= config.bin %> verify 127.0.0.1:5000/app:v1 --key cosign.pub --insecure-ignore-tlog',
    '<%= config.bin %> verify ghcr.io/org/app@sha256:... --certificate-identity ci@example.com --certificate-oidc-issuer https://token.actions.githubusercontent.com --trusted-root trusted_root.json',
  ];
  static override args = { image: Args.string({ required: true, description: 'image reference' }) };
  static override flags = {
    ...verifyFlags,
    annotations: Flags.string({ char: 'a', multiple: true, description: 'required payload annotation key=value' }),
    'check-claims': Flags.boolean({ default: true, allowNo: true, description: 'check the digest claim (always on; --no-check-claims is refused)' }),
    'check-repository': Flags.boolean({ description: "also require the payload's docker-reference repository to be the image's" }),
  };

  private notFound = false;

  async run(): Promise<ImageVerification> {
    const { args, flags } = await this.parse(Verify);
    if (!flags['check-claims']) throw new PullbenchError('INVALID_ARGUMENT', '--no-check-claims would accept a signature for any image; not supported');
    const opts = await loadVerifyOptions({ ...verifySettingsOf(flags), annotations: flags.annotations });
    const credentials = credentialsFrom('registry', flags);
    const repository = flags['check-repository'] ? parseReference(args.image).name : undefined;
    this.notFound = true;
    const result = await verifyImage(args.image, { ...opts, ...(repository ? { repository } : {}), access: { ...(credentials ? { credentials } : {}), plainHttp: flags['plain-http'] } });
    this.notFound = false;
    this.logToStderr(checklist(result, opts));
    if (result.decision !== 'verified') {
      const code: PullbenchErrorCode = result.decision === 'no-signatures' ? 'NO_SIGNATURES' : result.rejected.every((r) => r.code === 'NO_CERTIFICATE') ? 'NO_CERTIFICATE' : 'NO_MATCHING_SIGNATURE';
      throw new PullbenchError(code, `${result.image}: ${result.decision === 'no-signatures' ? 'no signatures found' : 'no matching signatures'}`, {
        details: { image: result.image, rejected: result.rejected },
      });
    }
    if (!this.jsonEnabled()) this.log(JSON.stringify(result.verified.map((v) => v.payload)));
    return result;
  }

  protected override exitCodeForError(code: PullbenchErrorCode): number {
    // cosign exits 11 when the image (tag) itself is not found.
    if (code === 'MANIFEST_UNKNOWN' && this.notFound) return ExitCode.TAG_NOT_FOUND;
    return exitCodeFor(code);
  }
}
