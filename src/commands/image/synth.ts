import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { credentialFlags, credentialsFrom } from '../../cli/credential-flags.js';
import { PullbenchError } from '../../errors.js';
import { parsePlatform, formatPlatform } from '../../oci/platform.js';
import { loadBase, pushSynthImage, type SynthImage } from '../../oci/synth.js';
import { pushTarget } from '../../oci/target.js';
import { formatBytes, parseSize } from '../../util/units.js';

export default class ImageSynth extends BaseCommand {
  static override summary = 'Create a deterministic test image (random incompressible layers) and push it to a registry';
  static override description =
    'Layer sizes are the size of the random file in each layer (MB = 10^6, MiB = 2^20 bytes). The same seed gives the same digests. ' +
    'With --base, the new image starts with every layer of the base image (a v1/v2 pair shares those layers).';
  static override examples = [
    '<%= config.bin %> image synth bench/app:v1 --registry http://127.0.0.1:5000 --layers 40MB,10MB,2MB',
    '<%= config.bin %> image synth bench/app:v2 --registry http://127.0.0.1:5000 --base bench/app:v1 --layers 5MB',
    '<%= config.bin %> image synth bench/multi:v1 --registry http://127.0.0.1:5000 --layers 10MB --count 3 --platform linux/amd64 --platform linux/arm64 --json',
    'REGPASS=... <%= config.bin %> image synth 127.0.0.1:5000/team/app:v1 --registry-user alice --registry-password-env REGPASS --layers 1MiB',
  ];
  static override args = { ref: Args.string({ required: true, description: 'repo[:tag] under --registry, or host:port/repo[:tag]' }) };
  static override flags = {
    registry: Flags.string({ summary: 'Registry URL, e.g. http://127.0.0.1:5000 (default: from REF)' }),
    ...credentialFlags('registry', { user: 'user', passwordEnv: 'password-env' }),
    layers: Flags.string({ required: true, summary: 'Comma-separated layer sizes, e.g. 40MB,10MB,2MB' }),
    count: Flags.integer({ min: 1, max: 1000, summary: 'Repeat a single --layers size this many times' }),
    platform: Flags.string({ multiple: true, summary: 'os/arch[/variant] (repeatable; more than one makes an image index)' }),
    base: Flags.string({ summary: 'Base image (repo:tag in the same registry) whose layers come first' }),
    seed: Flags.string({ default: 'pullbench', summary: 'Seed of the layer content' }),
    compression: Flags.string({ options: ['gzip', 'none'], default: 'gzip', description: 'layer compression' }),
    'gzip-level': Flags.integer({ min: 0, max: 9, default: 1, description: 'gzip level, 0-9 (1: fast, as a CI build would)' }),
  };

  async run(): Promise<{ reference: string; registry: string; image: SynthImage }> {
    const { args, flags } = await this.parse(ImageSynth);
    let layers = flags.layers.split(',').map((s) => parseSize(s, 'layer size'));
    if (flags.count !== undefined) {
      if (layers.length !== 1) throw new PullbenchError('INVALID_ARGUMENT', '--count repeats one size: give a single --layers value with it');
      layers = Array.from({ length: flags.count }, () => layers[0]!);
    }
    const target = pushTarget(args.ref, { registry: flags.registry, credentials: credentialsFrom('registry', flags) });
    const base = flags.base ? pushTarget(flags.base, { registry: target.registryUrl }) : undefined;
    const image = await pushSynthImage(target.client, target.repo, target.tag, {
      layers,
      platforms: flags.platform?.map(parsePlatform),
      seed: flags.seed,
      compression: flags.compression as 'gzip' | 'none',
      gzipLevel: flags['gzip-level'],
      base: base ? await loadBase(target.client, base.repo, base.tag) : undefined,
    }, (p) => {
      if (this.interactive) process.stderr.write(`  ${formatPlatform(p.platform)} layer ${p.layer}/${p.of} ${p.shared ? 'shared' : 'pushed'} ${formatBytes(p.size)}\n`);
    });
    this.log(`pushed ${target.reference} ${image.descriptor.digest}`);
    for (const img of image.images) {
      const fresh = img.layers.filter((l) => !l.shared);
      this.log(`  ${formatPlatform(img.platform)} ${img.manifest.digest}: ${img.layers.length} layers (${img.layers.length - fresh.length} shared), ${formatBytes(fresh.reduce((n, l) => n + l.size, 0))} new`);
    }
    return { reference: target.reference, registry: target.registryUrl, image };
  }
}
