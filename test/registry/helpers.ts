import { randomBytes } from 'node:crypto';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';

export interface TestImage {
  config: Buffer;
  layers: Buffer[];
  manifest: Buffer;
  manifestDigest: string;
}

/** A small OCI image: a config, `layerSizes` random layers, and its manifest. */
export function makeImage(layerSizes: number[] = [1024, 2048], extra: Record<string, unknown> = {}): TestImage {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }));
  const layers = layerSizes.map((n) => randomBytes(n));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: MediaType.OciLayerGzip, digest: digestOf(l), size: l.length })),
      ...extra,
    }),
  );
  return { config, layers, manifest, manifestDigest: digestOf(manifest) };
}

/** Pushes blobs monolithically and the manifest by tag, with plain fetch. */
export async function pushImage(url: string, repo: string, image: TestImage, tag = 'v1', headers: Record<string, string> = {}): Promise<void> {
  for (const blob of [image.config, ...image.layers]) {
    const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digestOf(blob)}`, { method: 'POST', body: blob, headers });
    if (res.status !== 201) throw new Error(`blob push: ${res.status} ${await res.text()}`);
  }
  const res = await fetch(`${url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: image.manifest,
    headers: { ...headers, 'Content-Type': MediaType.OciManifest },
  });
  if (res.status !== 201) throw new Error(`manifest push: ${res.status} ${await res.text()}`);
}

export async function errorCode(res: Response): Promise<string | undefined> {
  const body = (await res.json()) as { errors?: Array<{ code: string }> };
  return body.errors?.[0]?.code;
}
