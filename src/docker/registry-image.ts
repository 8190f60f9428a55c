import { execFile } from 'node:child_process';
import { copyFile, mkdir, writeFile, access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { PullbenchError } from '../errors.js';
import { makeTempDir } from '../util/temp.js';
import { findTool } from '../util/tools.js';
import type { StartedDockerd } from './dockerd.js';

const execFileAsync = promisify(execFile);

/** Tag of the locally built stand-in for `registry:2`. */
export const LOCAL_REGISTRY_IMAGE = 'pullbench/registry:2-local';

/** The configuration file the upstream `registry:2` image ships at /etc/docker/registry/config.yml. */
export const REGISTRY_CONFIG_YML = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`;

/** Absolute library paths from `ldd` output (resolved `=>` targets and the loader itself). */
export function parseLdd(output: string): string[] {
  const libs = new Set<string>();
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    const arrow = /=>\s+(\/\S+)\s+\(/.exec(line);
    if (arrow?.[1]) {
      libs.add(arrow[1]);
      continue;
    }
    const direct = /^(\/\S+)\s+\(/.exec(line);
    if (direct?.[1]) libs.add(direct[1]);
  }
  return [...libs];
}

/** The `docker import --change` instructions that make the root filesystem behave like `registry:2`. */
export function importChanges(): string[] {
  return [
    'ENTRYPOINT ["/bin/registry"]',
    'CMD ["serve", "/etc/docker/registry/config.yml"]',
    'EXPOSE 5000',
    'VOLUME ["/var/lib/registry"]',
  ];
}

export interface BuiltImage {
  tag: string;
  /** `sha256:...` image id. */
  id: string;
  /** distribution version of the binary inside, e.g. `2.8.2+ds1`. */
  registryVersion: string;
  reused: boolean;
}

/**
 * Builds a `registry:2`-like image from the host's Debian `docker-registry`
 * binary and the shared libraries `ldd` lists, and `docker import`s it. No
 * image is pulled from anywhere. Reuses an existing image with the same tag
 * unless `rebuild` is set.
 */
export async function buildLocalRegistryImage(
  dockerd: Pick<StartedDockerd, 'docker'>,
  opts: { tag?: string; rebuild?: boolean; binary?: string } = {},
): Promise<BuiltImage> {
  const tag = opts.tag ?? LOCAL_REGISTRY_IMAGE;
  const binary = opts.binary ?? findTool('docker-registry');
  if (!binary) {
    throw new PullbenchError('TOOL_MISSING', 'docker-registry is needed to build the local registry image (apt-get install -y docker-registry)');
  }
  const registryVersion = /\s(\d+\.\d+\.\d+\S*)/.exec((await execFileAsync(binary, ['--version'])).stdout)?.[1] ?? 'unknown';
  if (!opts.rebuild) {
    const existing = await dockerd.docker(['image', 'inspect', '--format', '{{.Id}}', tag]).catch(() => undefined);
    if (existing) return { tag, id: existing.stdout.trim(), registryVersion, reused: true };
  }

  await using work = await makeTempDir('pbimg-');
  const root = join(work.path, 'rootfs');
  const place = async (from: string, to: string): Promise<void> => {
    await mkdir(dirname(join(root, to)), { recursive: true });
    await copyFile(from, join(root, to));
  };
  await place(binary, '/bin/registry');
  const lddOut = await execFileAsync('ldd', [binary]).then(
    (r) => r.stdout,
    // A static binary makes ldd exit 1 ("not a dynamic executable"): nothing to copy.
    () => '',
  );
  for (const lib of parseLdd(lddOut)) await place(lib, lib);
  // CA bundle so a pull-through mirror can reach an https upstream.
  const caBundle = '/etc/ssl/certs/ca-certificates.crt';
  if (await access(caBundle).then(() => true, () => false)) await place(caBundle, caBundle);
  await mkdir(join(root, 'etc/docker/registry'), { recursive: true });
  await writeFile(join(root, 'etc/docker/registry/config.yml'), REGISTRY_CONFIG_YML);
  await mkdir(join(root, 'var/lib/registry'), { recursive: true });
  await mkdir(join(root, 'tmp'), { recursive: true, mode: 0o1777 });
  const tarball = join(work.path, 'rootfs.tar');
  await execFileAsync('tar', ['-C', root, '--numeric-owner', '--owner=0', '--group=0', '-cf', tarball, '.']);
  const changes = importChanges().flatMap((c) => ['--change', c]);
  const { stdout } = await dockerd.docker(['import', ...changes, tarball, tag], { timeoutMs: 300_000 });
  return { tag, id: stdout.trim(), registryVersion, reused: false };
}
