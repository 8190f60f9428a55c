import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realClock } from '../../src/core/clock.js';
import { EmulatedNode } from '../../src/node/kubelet.js';
import { EmbeddedRuntime } from '../../src/node/runtimes/embedded.js';
import { Keyring, SECRET_TYPE_DOCKER_CONFIG_JSON } from '../../src/oci/credentials.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { pushWithClient, synthImage } from './helpers/images.js';

const owner = { username: 'owner', password: 'owner-pw-123' };

describe('a private image on a node shared by tenants (KEP-2535), with a real registry and the embedded runtime', () => {
  let registry: StartedRegistry;
  beforeAll(async () => {
    registry = await embeddedRegistry.start({ auth: 'token', users: [owner] });
    await pushWithClient(registry.url, 'private/app', 'v1', synthImage([50_000]), owner);
  });
  afterAll(async () => registry?.[Symbol.asyncDispose]());

  async function run(ensureSecretPulledImages: boolean) {
    const runtime = await EmbeddedRuntime.start({ label: 'tenant-node', hostsToml: { [registry.host]: `server = "http://${registry.host}"\n` } });
    const node = new EmulatedNode({ name: 'tenant-node', runtime, clock: realClock, ensureSecretPulledImages });
    const image = `${registry.host}/private/app:v1`;
    const secret = {
      type: SECRET_TYPE_DOCKER_CONFIG_JSON,
      data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { [registry.host]: owner } })).toString('base64') },
    };
    await node.runPod({ uid: 'a', name: 'a', namespace: 'tenant-a', pullSecrets: Keyring.forPod({ secrets: [secret] }), containers: [{ name: 'c', image }] });
    void node.runPod({ uid: 'b', name: 'b', namespace: 'tenant-b', containers: [{ name: 'c', image }] });
    const settled = (): boolean => node.events().some((e) => e.involvedObject.uid === 'b' && /^(Container started|Error: )/.test(e.message));
    for (const end = Date.now() + 10_000; !settled() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
    const status = node.status('b')!;
    node.deletePod('b');
    await runtime[Symbol.asyncDispose]();
    return { status, events: node.events().filter((e) => e.involvedObject.uid === 'b') };
  }

  it('off: the tenant without credentials starts the image the other tenant pulled', async () => {
    const { status, events } = await run(false);
    expect(status.phase).toBe('Running');
    expect(events[0]!.message).toMatch(/already present on machine$/);
  });

  it('on: the tenant must pull with its own (no) credentials, and the registry refuses', async () => {
    const { status, events } = await run(true);
    expect(status.containers[0]!.status).toMatchObject({ state: 'waiting', reason: 'ErrImagePull' });
    expect(events.map((e) => e.reason)).toEqual(['Pulling', 'Failed', 'Failed']);
    expect(events[1]!.message).toMatch(/^Failed to pull image ".*": rpc error: code = Unknown desc = failed to pull and unpack image/);
    expect(JSON.stringify(events)).not.toContain(owner.password);
  });
});
