import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createPublicKey } from 'node:crypto';
import { fileURLToPath } from 'node:url';

/**
 * The shared cosign vectors live in `shared/` beside the repository (as CI lays
 * it out); PULLBENCH_VECTORS overrides, and /work/shared is the developers' copy.
 */
function findVectors(): string {
  const candidates = [
    process.env.PULLBENCH_VECTORS,
    fileURLToPath(new URL('../../../../shared/vectors/cosign', import.meta.url)),
    '/work/shared/vectors/cosign',
  ].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => existsSync(join(c, 'README.md')));
  if (!found) throw new Error(`cosign vectors not found; looked in ${candidates.join(', ')} (set PULLBENCH_VECTORS)`);
  return found;
}

export const VECTORS = findVectors();
export const CI = join(VECTORS, 'containers-image');

/**
 * Reads a vector file. The shared copy stores git symlinks as small text files
 * holding the target path (e.g. `../dir-img-cosign-valid/signature-1`): follow
 * those when the target exists; a dangling one is returned as its bytes.
 */
export function readVector(path: string): Buffer {
  const bytes = readFileSync(path);
  const text = bytes.toString('utf8');
  if (bytes.length < 200 && /^\.\.?\/[^\n\0]+$/.test(text)) {
    const target = resolve(dirname(path), text);
    if (existsSync(target)) return readVector(target);
  }
  return bytes;
}

export interface DirImage {
  manifest?: Buffer;
  signatures: Buffer[];
}

/** One image in containers/image's `dir:` layout (manifest.json + signature-N). */
export function readDirImage(name: string): DirImage {
  const dir = join(CI, name);
  const files = readdirSync(dir);
  const signatures = files
    .filter((f) => /^signature-\d+$/.test(f))
    .sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1]))
    .map((f) => readVector(join(dir, f)));
  return { ...(files.includes('manifest.json') ? { manifest: readVector(join(dir, 'manifest.json')) } : {}), signatures };
}

/**
 * The production Rekor key. The vectors' `rekor.pub` is a dangling symlink
 * (to containers/image's internal/testdata), so take the same key from the
 * public-good trusted root; its log ID matches the SETs in the vectors.
 */
export function productionRekorPem(): string {
  const root = JSON.parse(readFileSync(join(VECTORS, 'cosign/trusted_root_pgi.json'), 'utf8')) as { tlogs: { publicKey: { rawBytes: string } }[] };
  const der = Buffer.from(root.tlogs[0]!.publicKey.rawBytes, 'base64');
  return createPublicKey({ key: der, format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }).toString();
}
