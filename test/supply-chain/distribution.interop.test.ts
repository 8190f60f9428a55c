import { afterAll, beforeAll, expect, it } from 'vitest';
import { RegistryClient } from '../../src/oci/client.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { distributionRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { verifyImage } from '../../src/supply-chain/image.js';
import { generateCosignKeyPair, readPrivateKey, readPublicKey } from '../../src/supply-chain/keys.js';
import { signImage } from '../../src/supply-chain/sign.js';
import { describeWithTools } from '../helpers/interop.js';

// Distribution 2.8 has no referrers API: the legacy .sig layout must work there, as cosign's does.
describeWithTools(['docker-registry'], 'signing and verifying on a real distribution registry', () => {
  let registry: StartedRegistry;
  let client: RegistryClient;
  beforeAll(async () => {
    registry = await distributionRegistry.start({ storage: 'filesystem' });
    client = new RegistryClient({ baseUrl: registry.url });
    await pushSynthImage(client, 'team/app', 'v1', { layers: [1024], seed: 'dist' });
  });
  afterAll(async () => registry?.[Symbol.asyncDispose]());

  it('stores cosign .sig manifests that verify, and appends a second signer', async () => {
    const image = `${registry.host}/team/app:v1`;
    const pairs = [await generateCosignKeyPair(''), await generateCosignKeyPair('')];
    for (const p of pairs) await signImage(client, image, { key: await readPrivateKey(p.privatePem, ''), annotations: { ci: 'yes' } });
    for (const p of pairs) {
      const r = await verifyImage(image, { key: readPublicKey(p.publicPem), ignoreTlog: true, annotations: { ci: 'yes' } });
      expect(r.decision).toBe('verified');
      expect(r.verified).toHaveLength(1);
      expect(r.rejected.map((x) => x.code)).toEqual(['SIGNATURE_INVALID']);
    }
    const other = await generateCosignKeyPair('');
    expect((await verifyImage(image, { key: readPublicKey(other.publicPem), ignoreTlog: true })).decision).toBe('no-matching-signature');
  });
});
