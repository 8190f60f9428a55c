import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { hostsToml } from '../../src/cluster/kube/registry-routes.js';
import { startContainerd } from '../../src/node/containerd/daemon.js';
import { RegistryClient } from '../../src/oci/client.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { embeddedRegistry } from '../../src/registry/provider.js';
import { makeTempDir } from '../../src/util/temp.js';
import { describeWithTools } from '../helpers/interop.js';

describeWithTools(['containerd', 'ctr'], 'the hosts.toml written into kind nodes, read by a real containerd', () => {
  it('routes a registry name to its plain-HTTP endpoint (no mirror: the host table of its own is honoured)', async () => {
    await using registry = await embeddedRegistry.start({});
    const image = await pushSynthImage(new RegistryClient({ baseUrl: registry.url }), 'bench/app', 'v1', { layers: [2000], seed: 'hosts' });
    await using containerd = await startContainerd({ label: 'hosts-toml', snapshotter: 'native' });
    await using dir = await makeTempDir('pb-certs-');
    // The name pods use on a kind cluster; here its endpoint is the registry on 127.0.0.1.
    const host = 'pullbench-registry:5000';
    await mkdir(join(dir.path, host));
    await writeFile(join(dir.path, host, 'hosts.toml'), hostsToml({ host, endpoint: registry.url }));
    await containerd.ctr(['image', 'pull', '--hosts-dir', dir.path, '--snapshotter', 'native', `${host}/bench/app:v1`]);
    const listed = (await containerd.ctr(['image', 'ls', '-q'])).stdout;
    expect(listed).toContain(`${host}/bench/app:v1`);
    expect(registry.stats().blobGet).toBeGreaterThanOrEqual(image.images[0]!.layers.length);
  });
});
