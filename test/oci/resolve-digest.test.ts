import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/oci/client.js';

const MANIFEST = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}');
const DIGEST = `sha256:${'a'.repeat(64)}`;

// A registry whose manifest answers carry no Docker-Content-Digest header (some proxies strip it).
async function headerless() {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(MANIFEST.length) });
    res.end(req.method === 'HEAD' ? undefined : MANIFEST);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, [Symbol.asyncDispose]: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('resolving when the manifest answer lacks Docker-Content-Digest', () => {
  it('takes a digest reference as its own digest from the HEAD alone, as containerd does', async () => {
    await using reg = await headerless();
    const desc = await new RegistryClient({ baseUrl: reg.url }).resolve('app', DIGEST);
    expect(desc).toEqual({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: DIGEST, size: MANIFEST.length });
    expect(reg.seen).toEqual([`HEAD /v2/app/manifests/${DIGEST}`]);
  });

  it('GETs the manifest for a tag and digests what came', async () => {
    await using reg = await headerless();
    const desc = await new RegistryClient({ baseUrl: reg.url }).resolve('app', 'v1');
    expect(desc.size).toBe(MANIFEST.length);
    expect(reg.seen).toEqual(['HEAD /v2/app/manifests/v1', 'GET /v2/app/manifests/v1']);
  });
});
