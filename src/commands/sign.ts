import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { credentialsFrom } from '../cli/credential-flags.js';
import { registryAccessFlags } from '../cli/registry-flags.js';
import { parseReference } from '../oci/reference.js';
import { readPrivateKey } from '../supply-chain/keys.js';
import { parseAnnotations, readText } from '../supply-chain/options.js';
import { resolvePassword } from '../supply-chain/password.js';
import { clientFor } from '../supply-chain/registry.js';
import { signImage, type SignFormat, type SignResult } from '../supply-chain/sign.js';

export default class Sign extends BaseCommand {
  static override summary = 'Sign an image with a cosign key (legacy .sig tag, or a Sigstore bundle referrer)';
  static override examples = [
    'COSIGN_PASSWORD= <%= config.bin %> sign 127.0.0.1:5000/app:v1 --key cosign.key -a team=payments',
    '<%= config.bin %> sign 127.0.0.1:5000/app:v1 --key cosign.key --format bundle --key-password-env KEY_PW',
  ];
  static override args = { image: Args.string({ required: true, description: 'image to sign, by tag or digest' }) };
  static override flags = {
    key: Flags.string({ required: true, description: 'cosign.key (encrypted) or a PEM private key' }),
    annotations: Flags.string({ char: 'a', multiple: true, description: 'key=value in the payload (legacy format)' }),
    format: Flags.string({ options: ['legacy', 'bundle'], default: 'legacy', description: 'legacy: the .sig tag cosign reads; bundle: a Sigstore bundle v0.3 referrer' }),
    'key-password-env': Flags.string({ aliases: ['password-env'], deprecateAliases: true, description: 'environment variable with the key password (default COSIGN_PASSWORD, else prompt)' }),
    ...registryAccessFlags,
  };

  async run(): Promise<SignResult> {
    const { args, flags } = await this.parse(Sign);
    const password = await resolvePassword({ passwordEnv: flags['key-password-env'], prompt: true });
    const key = await readPrivateKey(await readText(flags.key, 'key'), password);
    const credentials = credentialsFrom('registry', flags);
    const client = clientFor(parseReference(args.image), { ...(credentials ? { credentials } : {}), plainHttp: flags['plain-http'] });
    const result = await signImage(client, args.image, { key, annotations: parseAnnotations(flags.annotations), format: flags.format as SignFormat });
    this.logToStderr(`Pushing signature to: ${result.location}`);
    return result;
  }
}
