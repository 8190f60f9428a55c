import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { credentialsFrom } from '../cli/credential-flags.js';
import { registryAccessFlags } from '../cli/registry-flags.js';
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
    key: Flags.string({ description: 'PEM public key (ECDSA P-256/P-384, RSA, Ed25519)' }),
    'certificate-identity': Flags.string({ description: 'exact certificate SAN (email or URI)' }),
    'certificate-identity-regexp': Flags.string({ description: 'anchored regexp (RE2 subset) for the SAN' }),
    'certificate-oidc-issuer': Flags.string({ description: 'exact OIDC issuer (Fulcio extension)' }),
    'certificate-oidc-issuer-regexp': Flags.string({ description: 'anchored regexp for the OIDC issuer' }),
    'trusted-root': Flags.string({ description: 'sigstore trusted_root.json (Fulcio, Rekor, CT logs)' }),
    'ca-roots': Flags.string({ description: 'PEM CA roots for a private PKI' }),
    'ca-intermediates': Flags.string({ description: 'PEM CA intermediates' }),
    'rekor-key': Flags.string({ description: 'Rekor public key (PEM) for signed entry timestamps' }),
    'ctlog-key': Flags.string({ description: 'CT log public key (PEM) for SCTs' }),
    'insecure-ignore-tlog': Flags.boolean({ description: 'accept signatures without a verified Rekor entry' }),
    'insecure-ignore-sct': Flags.boolean({ description: 'do not require SCTs' }),
    annotations: Flags.string({ char: 'a', multiple: true, description: 'required payload annotation key=value' }),
    'check-claims': Flags.boolean({ default: true, allowNo: true, description: 'check the digest claim (always on; --no-check-claims is refused)' }),
    'check-repository': Flags.boolean({ description: "also require the payload's docker-reference repository to be the image's" }),
    ...registryAccessFlags,
  };

  private notFound = false;

  async run(): Promise<ImageVerification> {
    const { args, flags } = await this.parse(Verify);
    if (!flags['check-claims']) throw new PullbenchError('INVALID_ARGUMENT', '--no-check-claims would accept a signature for any image; not supported');
    const opts = await loadVerifyOptions({
      key: flags.key,
      certificateIdentity: flags['certificate-identity'],
      certificateIdentityRegexp: flags['certificate-identity-regexp'],
      certificateOidcIssuer: flags['certificate-oidc-issuer'],
      certificateOidcIssuerRegexp: flags['certificate-oidc-issuer-regexp'],
      trustedRoot: flags['trusted-root'],
      caRoots: flags['ca-roots'],
      caIntermediates: flags['ca-intermediates'],
      rekorKey: flags['rekor-key'],
      ctlogKey: flags['ctlog-key'],
      insecureIgnoreTlog: flags['insecure-ignore-tlog'],
      insecureIgnoreSct: flags['insecure-ignore-sct'],
      annotations: flags.annotations,
    });
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
