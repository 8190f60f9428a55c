import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';

/**
 * Writes an OCI image layout (one linux/amd64 image, real gzip tar layers that
 * containerd can unpack) under `dir`, tagged `tag`. Returns the manifest digest.
 */
export async function writeOciLayout(dir: string, tag: string, layerCount = 2): Promise<{ manifestDigest: string; files: string[] }> {
  const blobsDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobsDir, { recursive: true });
  const putBlob = async (data: Buffer): Promise<string> => {
    const d = digestOf(data);
    await writeFile(join(blobsDir, d.slice(7)), data);
    return d;
  };
  const layers = [];
  const diffIds: string[] = [];
  const files: string[] = [];
  for (let i = 0; i < layerCount; i++) {
    const src = join(dir, `..src-${i}`);
    await mkdir(join(src, 'data'), { recursive: true });
    const name = `data/file-${i}.bin`;
    await writeFile(join(src, name), randomBytes(64 * 1024));
    files.push(name);
    const tar = execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', src, '-cf', '-', 'data']);
    execFileSync('rm', ['-rf', src]);
    const gz = gzipSync(tar);
    diffIds.push(digestOf(tar));
    layers.push({ mediaType: MediaType.OciLayerGzip, digest: await putBlob(gz), size: gz.length });
  }
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: await putBlob(config), size: config.length },
      layers,
    }),
  );
  const manifestDigest = await putBlob(manifest);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { mediaType: MediaType.OciManifest, digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } },
      ],
    }),
  );
  return { manifestDigest, files };
}
