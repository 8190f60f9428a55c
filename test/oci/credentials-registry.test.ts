import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring, pullWithCredentials, type BasicCredentials, type PullSecret } from '../../src/oci/credentials.js';
import { RegistryClient } from '../../src/oci/client.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';

const owner = { username: 'owner', password: 'owner-pw' };

/** One "pull" as a runtime does it: resolve the tag with the given credentials (or none). */
const resolveWith = (registry: StartedRegistry) => (creds: BasicCredentials | undefined) =>
  new RegistryClient({ baseUrl: registry.url, ...(creds ? { credentials: creds } : {}) }).resolve('team/private', 'v1');

const secret = (entries: Record<string, BasicCredentials>): PullSecret => ({
  type: 'kubernetes.io/dockerconfigjson',
  stringData: { '.dockerconfigjson': JSON.stringify({ auths: entries }) },
});

describe('kubelet credentials against a registry with basic auth', () => {
  let registry: StartedRegistry;
  beforeAll(async () => {
    registry = await embeddedRegistry.start({ auth: 'basic', users: [owner] });
    await pushSynthImage(new RegistryClient({ baseUrl: registry.url, credentials: owner }), 'team/private', 'v1', { layers: [1000] });
  });
  afterAll(async () => registry?.[Symbol.asyncDispose]());

  it('tries the most specific credential first and succeeds with the next one', async () => {
    const keyring = Keyring.forPod({
      secrets: [secret({ [`${registry.host}/team`]: { username: 'owner', password: 'stale' }, [registry.host]: owner })],
    });
    const creds = keyring.lookup(`${registry.host}/team/private:v1`);
    expect(creds.map((c) => c.password)).toEqual(['stale', 'owner-pw']);
    registry.resetStats();
    const desc = await pullWithCredentials(creds, resolveWith(registry));
    expect(desc.digest).toMatch(/^sha256:/);
    expect(registry.stats().manifestHead).toBeGreaterThanOrEqual(1);
  });

  it('fails with every error when no credential works, without an anonymous attempt', async () => {
    const keyring = Keyring.forPod({ secrets: [secret({ [registry.host]: { username: 'owner', password: 'wrong-1' } }), secret({ [registry.host]: { username: 'owner', password: 'wrong-2' } })] });
    const tried: (string | undefined)[] = [];
    const failing = pullWithCredentials(keyring.lookup(`${registry.host}/team/private:v1`), (c) => {
      tried.push(c?.password);
      return resolveWith(registry)(c);
    });
    await expect(failing).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED' });
    expect(tried).toEqual(['wrong-1', 'wrong-2']);
    const err = await failing.catch((e: Error) => e);
    expect(JSON.stringify(err)).not.toMatch(/wrong-1|wrong-2/);
  });

  it('pulls anonymously when nothing matches, and the registry refuses', async () => {
    const keyring = Keyring.forPod({ secrets: [secret({ 'other.example.com': owner })] });
    const tried: (string | undefined)[] = [];
    await expect(
      pullWithCredentials(keyring.lookup(`${registry.host}/team/private:v1`), (c) => {
        tried.push(c?.password);
        return resolveWith(registry)(c);
      }),
    ).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED' });
    expect(tried).toEqual([undefined]);
  });
});
