import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { RegistryClient } from '../../src/oci/client.js';
import { MediaType } from '../../src/oci/media-types.js';
import { startProcess, type StartedProcess } from '../../src/util/process.js';
import { makeTempDir, type TempDir } from '../../src/util/temp.js';
import { findTool } from '../../src/util/tools.js';
import { freePort } from '../../src/util/ports.js';

/** Debian's docker-registry with its access log captured, to count what reached it. */
export interface LoggedDistribution extends AsyncDisposable {
  readonly url: string;
  /** Access-log lines so far: `METHOD PATH STATUS` per request. */
  requests(): Promise<Array<{ method: string; path: string; status: number }>>;
  process: StartedProcess;
}

export async function startLoggedDistribution(users: Array<{ username: string; password: string }> = []): Promise<LoggedDistribution> {
  const dir: TempDir = await makeTempDir('pullbench-load-distribution-');
  const host = `127.0.0.1:${await freePort()}`;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir.path, 'data')}`,
    'http:',
    `  addr: ${host}`,
  ];
  if (users.length > 0) {
    await writeFile(join(dir.path, 'htpasswd'), users.map((u) => `${u.username}:${bcrypt.hashSync(u.password, 5)}`).join('\n') + '\n');
    lines.push('auth:', '  htpasswd:', '    realm: pullbench', `    path: ${join(dir.path, 'htpasswd')}`);
  }
  await writeFile(join(dir.path, 'config.yml'), lines.join('\n') + '\n');
  const logPath = join(dir.path, 'access.log');
  const url = `http://${host}`;
  let proc: StartedProcess;
  try {
    proc = await startProcess({
      label: `docker-registry ${host}`,
      command: '/bin/sh',
      // exec keeps one process to signal; the access log (combined format) goes to stdout.
      args: ['-c', 'exec "$0" serve "$1" >"$2" 2>&1', findTool('docker-registry') ?? 'docker-registry', join(dir.path, 'config.yml'), logPath],
      ready: async () => (await fetch(`${url}/v2/`)).status < 500,
      readyTimeoutMs: 20_000,
    });
  } catch (err) {
    await dir.remove();
    throw err;
  }
  return {
    url,
    process: proc,
    async requests() {
      const text = await readFile(logPath, 'utf8').catch(() => '');
      const out: Array<{ method: string; path: string; status: number }> = [];
      for (const m of text.matchAll(/"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP\/1\.1" (\d{3})/g)) {
        out.push({ method: m[1]!, path: m[2]!, status: Number(m[3]) });
      }
      return out;
    },
    [Symbol.asyncDispose]: async () => {
      await proc.stop();
      await dir.remove();
    },
  };
}

/** Waits until `check` passes (access logs are written after the response). */
export async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A small image pushed with the oci client (which handles the registry's auth); returns its digests. */
export async function seedImage(
  url: string,
  repo: string,
  tag: string,
  layerSizes: number[],
  credentials?: { username: string; password: string },
): Promise<{ manifestDigest: string; config: string; layers: string[] }> {
  const client = new RegistryClient({ baseUrl: url, credentials });
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layers = layerSizes.map((n) => randomBytes(n));
  const configDesc = await client.pushBlob(repo, config);
  const layerDescs = [];
  for (const layer of layers) layerDescs.push(await client.pushBlob(repo, layer));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configDesc.digest, size: configDesc.size },
      layers: layerDescs.map((d) => ({ mediaType: MediaType.OciLayerGzip, digest: d.digest, size: d.size })),
    }),
  );
  const desc = await client.putManifest(repo, tag, manifest, MediaType.OciManifest);
  return { manifestDigest: desc.digest, config: configDesc.digest, layers: layerDescs.map((d) => d.digest) };
}

/** An index over one amd64 and one arm64 image, tagged `tag`. */
export async function seedIndex(url: string, repo: string, tag: string): Promise<{ indexDigest: string; amd64: string; arm64: string }> {
  const amd64 = await seedImage(url, repo, `${tag}-amd64`, [512]);
  const arm64 = await seedImage(url, repo, `${tag}-arm64`, [256, 256]);
  const client = new RegistryClient({ baseUrl: url });
  const size = async (digest: string): Promise<number> => (await client.getManifest(repo, digest)).bytes.length;
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { mediaType: MediaType.OciManifest, digest: amd64.manifestDigest, size: await size(amd64.manifestDigest), platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: MediaType.OciManifest, digest: arm64.manifestDigest, size: await size(arm64.manifestDigest), platform: { os: 'linux', architecture: 'arm64' } },
      ],
    }),
  );
  const desc = await client.putManifest(repo, tag, index, MediaType.OciIndex);
  return { indexDigest: desc.digest, amd64: amd64.manifestDigest, arm64: arm64.manifestDigest };
}
