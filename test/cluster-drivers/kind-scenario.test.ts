import { describe, expect, it } from 'vitest';
import { kindNetworkName } from '../../src/cluster/drivers/kind/config.js';
import { writeLayout } from '../../src/oci/layout.js';
import { containerNetwork } from '../../src/run/real-cluster.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { loadScenario } from '../../src/scenario/load.js';
import { makeTempDir } from '../../src/util/temp.js';

describe('scenarios/kind-mirror.yaml', () => {
  it('loads against the scenario schema: kind driver, registry and mirror in containers', async () => {
    const { scenario } = await loadScenario('scenarios/kind-mirror.yaml');
    expect(scenario.cluster.driver).toBe('kind');
    expect(scenario.registry.provider).toBe('container');
    expect(scenario.mirror?.provider).toBe('container');
    expect(scenario.matrix.topology).toEqual(['direct', 'mirror']);
    expect(scenario.matrix.cache).toEqual(['cold', 'warm']);
    expect(scenario.cluster).toMatchObject({ nodeImage: 'kindest/node:v1.31.0', keep: false, coldCacheImage: 'busybox:1.36', namespacePrefix: 'pullbench' });
  });

  it('synthesises an image whose every platform (amd64 and arm64 nodes) runs /pause, so DaemonSet pods become Ready', async () => {
    const { scenario } = await loadScenario('scenarios/kind-mirror.yaml');
    const synth = scenario.images[0]!.synth!;
    expect(synth.platforms).toEqual(['linux/amd64', 'linux/arm64']);
    await using dir = await makeTempDir('pb-kind-scenario-');
    // The scenario's platforms and layer count, with small layers.
    const image = await writeLayout(dir.path, { layers: synth.layers.map(() => 100), platforms: synth.platforms.map(parsePlatform) }, 'v1');
    for (const img of image.images) {
      expect(img.entrypoint).toEqual(['/pause']);
      expect(img.layers.filter((l) => l.entrypoint)).toHaveLength(1);
      expect(img.layers).toHaveLength(synth.layers.length + 1);
    }
  });

  it("puts the registry and mirror containers on kind's network under the names hosts.toml uses", async () => {
    const { scenario } = await loadScenario('scenarios/kind-mirror.yaml');
    expect(containerNetwork(scenario, 'registry')).toEqual({ name: 'kind', aliases: ['pullbench-registry'] });
    expect(containerNetwork(scenario, 'mirror')).toEqual({ name: 'kind', aliases: ['pullbench-mirror'] });
    // kind's own override of its network name is followed.
    expect(kindNetworkName({ KIND_EXPERIMENTAL_DOCKER_NETWORK: 'ci-net' })).toBe('ci-net');
    expect(kindNetworkName({})).toBe('kind');
  });
});
