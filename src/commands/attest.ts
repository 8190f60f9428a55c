import { readFile } from 'node:fs/promises';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { credentialsFrom } from '../cli/credential-flags.js';
import { registryAccessFlags } from '../cli/registry-flags.js';
import { PullbenchError } from '../errors.js';
import { parseReference } from '../oci/reference.js';
import { attestImage, type AttestFormat, type AttestResult } from '../supply-chain/attestation.js';
import { readPrivateKey } from '../supply-chain/keys.js';
import { readText } from '../supply-chain/options.js';
import { resolvePassword } from '../supply-chain/password.js';
import { clientFor } from '../supply-chain/registry.js';

export default class Attest extends BaseCommand {
  static override summary = 'Attest an image as cosign attest does: a signed in-toto statement (Sigstore bundle referrer, or the legacy .att tag)';
  static override examples = [
    'COSIGN_PASSWORD= <%= config.bin %> attest 127.0.0.1:5000/app:v1 --key cosign.key --type vuln --predicate trivy-vuln.json',
    '<%= config.bin %> attest 127.0.0.1:5000/app:v1 --key cosign.key --type slsaprovenance1 --predicate provenance.json --format both',
  ];
  static override args = { image: Args.string({ required: true, description: 'image reference' }) };
  static override flags = {
    key: Flags.string({ required: true, description: 'cosign.key (encrypted) or a PEM private key' }),
    predicate: Flags.string({ required: true, description: 'path to the predicate file' }),
    type: Flags.string({ default: 'custom', description: 'slsaprovenance|slsaprovenance02|slsaprovenance1|link|spdx|spdxjson|cyclonedx|vuln|openvex|custom, or a URI' }),
    format: Flags.string({ options: ['bundle', 'legacy', 'both'], default: 'bundle', description: 'bundle: OCI 1.1 referrer (cosign 3); legacy: the sha256-<hex>.att tag' }),
    'key-password-env': Flags.string({ description: 'environment variable with the key password (default COSIGN_PASSWORD, else prompt)' }),
    ...registryAccessFlags,
  };

  async run(): Promise<AttestResult> {
    const { args, flags } = await this.parse(Attest);
    const predicate = await readFile(flags.predicate).catch((cause: unknown) => {
      throw new PullbenchError('INVALID_ARGUMENT', `cannot read predicate ${flags.predicate}`, { cause });
    });
    const password = await resolvePassword({ passwordEnv: flags['key-password-env'], prompt: true });
    const key = await readPrivateKey(await readText(flags.key, 'key'), password);
    const credentials = credentialsFrom('registry', flags);
    const client = clientFor(parseReference(args.image), { ...(credentials ? { credentials } : {}), plainHttp: flags['plain-http'] });
    const result = await attestImage(client, args.image, { key, type: flags.type, predicate, format: flags.format as AttestFormat });
    for (const location of result.locations) this.logToStderr(`Pushing attestation to: ${location}`);
    return result;
  }
}
