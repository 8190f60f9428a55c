import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { text } from 'node:stream/consumers';
import { RegistryClient } from '../../src/oci/client.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { distributionRegistry, embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { isPullbenchError } from '../../src/errors.js';
import { describeWithTools } from '../helpers/interop.js';

const alice = { username: 'alice', password: 'Alice-pw-7731' };

async function codeOf(p: Promise<unknown>): Promise<{ code?: string; json?: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return isPullbenchError(err) ? { code: err.code, json: JSON.stringify(err.toJSON()) } : { code: String(err) };
}

describeWithTools(['docker-registry'], 'Basic auth against docker-registry with htpasswd', () => {
  let registry: StartedRegistry;
  beforeAll(async () => {
    registry = await distributionRegistry.start({ auth: 'basic', users: [alice] });
  });
  afterAll(async () => {
    await registry?.[Symbol.asyncDispose]();
  });

  it('pushes and pulls with the right credentials', async () => {
    const client = new RegistryClient({ baseUrl: registry.url, credentials: alice });
    const image = await pushSynthImage(client, 'private/app', 'v1', { layers: [5000] });
    expect((await client.resolve('private/app', 'v1')).digest).toBe(image.descriptor.digest);
    const config = await client.getBlob('private/app', image.images[0]!.config.digest);
    expect(JSON.parse(await text(config.body))).toMatchObject({ os: 'linux' });
  });

  it('is refused without credentials, and with wrong ones, without leaking the password', async () => {
    expect((await codeOf(new RegistryClient({ baseUrl: registry.url }).resolve('private/app', 'v1'))).code).toBe('REGISTRY_UNAUTHORIZED');
    const wrong = await codeOf(new RegistryClient({ baseUrl: registry.url, credentials: { username: 'alice', password: 'Not-Her-Pw-55' } }).resolve('private/app', 'v1'));
    expect(wrong.code).toBe('REGISTRY_UNAUTHORIZED');
    expect(wrong.json).not.toContain('Not-Her-Pw-55');
  });
});

describe('Bearer token auth against the embedded registry', () => {
  let registry: StartedRegistry;
  beforeAll(async () => {
    registry = await embeddedRegistry.start({ auth: 'token', users: [alice], storage: 'memory', port: 0 });
  });
  afterAll(async () => {
    await registry?.[Symbol.asyncDispose]();
  });

  it('fetches one token per scope and reuses it for the whole push and pull', async () => {
    const client = new RegistryClient({ baseUrl: registry.url, credentials: alice });
    const image = await pushSynthImage(client, 'team/app', 'v1', { layers: [20_000, 10_000, 5000] });
    const afterPush = registry.stats().token;
    expect(afterPush).toBeGreaterThan(0);
    expect(afterPush).toBeLessThanOrEqual(2); // pull, and pull+push
    const m = await client.getManifest('team/app', 'v1');
    expect(m.descriptor.digest).toBe(image.descriptor.digest);
    for (const layer of image.images[0]!.layers) await text((await client.getBlob('team/app', layer.digest)).body);
    expect(registry.stats().token).toBe(afterPush);
  });

  it('gives REGISTRY_UNAUTHORIZED for wrong credentials', async () => {
    const client = new RegistryClient({ baseUrl: registry.url, credentials: { username: 'alice', password: 'nope-nope-1' } });
    expect((await codeOf(client.resolve('team/app', 'v1'))).code).toBe('REGISTRY_UNAUTHORIZED');
  });
});
