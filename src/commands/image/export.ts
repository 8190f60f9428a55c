import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { credentialFlags, credentialsFrom } from '../../cli/credential-flags.js';
import { exportLayout } from '../../oci/layout.js';
import type { Descriptor } from '../../oci/media-types.js';
import { pushTarget } from '../../oci/target.js';

export default class ImageExport extends BaseCommand {
  static override summary = 'Copy an image (every platform) from a registry into an OCI image layout directory';
  static override examples = [
    '<%= config.bin %> image export bench/app:v1 ./layout --registry http://127.0.0.1:5000',
    'skopeo copy oci:./layout:v1 docker-archive:app.tar   # the layout is standard',
  ];
  static override args = {
    ref: Args.string({ required: true, description: 'repo[:tag] under --registry, or host:port/repo[:tag]' }),
    dir: Args.string({ required: true, description: 'OCI image layout directory (created or added to)' }),
  };
  static override flags = {
    registry: Flags.string({ summary: 'Registry URL, e.g. http://127.0.0.1:5000 (default: from REF)' }),
    ...credentialFlags('registry', { user: 'user', passwordEnv: 'password-env' }),
    name: Flags.string({ summary: 'Name of the image in the layout (default: the tag)' }),
  };

  async run(): Promise<{ reference: string; dir: string; descriptor: Descriptor }> {
    const { args, flags } = await this.parse(ImageExport);
    const target = pushTarget(args.ref, { registry: flags.registry, credentials: credentialsFrom('registry', flags) });
    const descriptor = await exportLayout(target.client, target.repo, target.tag, args.dir, flags.name ?? target.tag);
    this.log(`exported ${target.reference} ${descriptor.digest} to ${args.dir}`);
    return { reference: target.reference, dir: args.dir, descriptor };
  }
}
