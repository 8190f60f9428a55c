import { writeFile, access } from 'node:fs/promises';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { PullbenchError } from '../../errors.js';
import { generateCosignKeyPair, type KeyAlgorithm } from '../../supply-chain/keys.js';
import { resolvePassword } from '../../supply-chain/password.js';

export default class KeyGenerate extends BaseCommand {
  static override summary = 'Generate a cosign-compatible key pair (cosign.key, cosign.pub)';
  static override examples = [
    'COSIGN_PASSWORD= <%= config.bin %> key generate',
    '<%= config.bin %> key generate --output-prefix release --key-password-env RELEASE_KEY_PASSWORD',
  ];
  static override flags = {
    'output-prefix': Flags.string({ default: 'cosign', description: 'writes PREFIX.key and PREFIX.pub' }),
    'key-password-env': Flags.string({ aliases: ['password-env'], deprecateAliases: true, description: 'environment variable with the key password (default COSIGN_PASSWORD, else prompt)' }),
    password: Flags.string({ description: 'the password (visible to other users in ps; prefer --key-password-env)' }),
    algorithm: Flags.string({ options: ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048', 'rsa-4096'], default: 'ecdsa-p256', description: 'key algorithm (cosign generate-key-pair makes ecdsa-p256)' }),
    force: Flags.boolean({ description: 'overwrite existing files' }),
  };

  async run(): Promise<{ privateKey: string; publicKey: string }> {
    const { flags } = await this.parse(KeyGenerate);
    const password = await resolvePassword({ password: flags.password, passwordEnv: flags['key-password-env'], prompt: true, confirm: true });
    const files = { privateKey: `${flags['output-prefix']}.key`, publicKey: `${flags['output-prefix']}.pub` };
    if (!flags.force) {
      for (const file of Object.values(files)) {
        if (await access(file).then(() => true, () => false)) {
          throw new PullbenchError('INVALID_ARGUMENT', `${file} exists; use --force to overwrite`);
        }
      }
    }
    const pair = await generateCosignKeyPair(password, { algorithm: flags.algorithm as KeyAlgorithm });
    await writeFile(files.privateKey, pair.privatePem, { mode: 0o600 });
    await writeFile(files.publicKey, pair.publicPem);
    this.logToStderr(`Private key written to ${files.privateKey}\nPublic key written to ${files.publicKey}`);
    return files;
  }
}
