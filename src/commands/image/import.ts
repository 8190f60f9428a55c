import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { credentialFlags, credentialsFrom } from '../../cli/credential-flags.js';
import { importLayout } from '../../oci/layout.js';
import type { Descriptor } from '../../oci/media-types.js';
import { pushTarget } from '../../oci/target.js';

export default class ImageImport extends BaseCommand {
  static override summary = 'Push an image from an OCI image layout directory to a registry';
  static override examples = [
    '<%= config.bin %> image import ./layout bench/app:v1 --registry http://127.0.0.1:5000',
    '<%= config.bin %> image import ./layout bench/app:v2 --registry http://127.0.0.1:5000 --name v2 --json',
  ];
  static override args = {
    dir: Args.string({ required: true, description: 'OCI image layout directory (oci-layout, index.json, blobs/)' }),
    ref: Args.string({ required: true, description: 'repo[:tag] under --registry, or host:port/repo[:tag]' }),
  };
  static override flags = {
    registry: Flags.string({ summary: 'Registry URL, e.g. http://127.0.0.1:5000 (default: from REF)' }),
    ...credentialFlags('registry', { user: 'user', passwordEnv: 'password-env' }),
    name: Flags.string({ summary: 'Image in the layout (its org.opencontainers.image.ref.name); default: the tag of REF, or the only image' }),
  };

  async run(): Promise<{ reference: string; descriptors: Descriptor[] }> {
    const { args, flags } = await this.parse(ImageImport);
    const target = pushTarget(args.ref, { registry: flags.registry, credentials: credentialsFrom('registry', flags) });
    const descriptors = await importLayout(args.dir, target.client, target.repo, target.tag, flags.name);
    const top = descriptors[descriptors.length - 1]!;
    this.log(`pushed ${target.reference} ${top.digest} (${descriptors.length} blobs and manifests)`);
    return { reference: target.reference, descriptors };
  }
}
