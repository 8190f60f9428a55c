import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/oci/client.js';
import { isIndexMediaType, type ImageIndex, type ImageManifest } from '../../src/oci/media-types.js';
import type { RunResults } from '../../src/results/index.js';
import { registryStage, seedStage } from '../../src/run/registry-stage.js';
import { runScenario } from '../../src/run/run.js';
import { loadScenario, type LoadedScenario } from '../../src/scenario/load.js';

// scenarios/edge-and-core.yaml through the product path (runScenario, real HTTP to in-process registries
// and mirrors over shaped links), scaled down.
const env = { ...process.env, PULLBENCH_REGISTRY_PASSWORD: 's3cret-for-tests' };
const SMALL = [
  'cluster.layerStore=inflate-only', 'cluster.pools[0].nodes=3', 'cluster.pools[1].nodes=2', 'rollouts[1].deployment.replicas=5',
  'images[0].synth.layers=[600kB, 200kB]', 'images[1].synth.layers=[300kB]',
];
const load = (set: string[] = []): Promise<LoadedScenario> => loadScenario('scenarios/edge-and-core.yaml', { env, set: [...SMALL, ...set] });

// What a node of a platform pulls for a tag, read back from a registry: the index, the platform's manifest, its blobs.
async function platformBytes(loaded: LoadedScenario, ref: string, architecture: string): Promise<{ total: number; blobs: number }> {
  // A registry of its own, seeded the same way: synthesised images are deterministic, so the digests match the run's.
  await using registries = await registryStage(loaded.scenario);
  await seedStage(loaded, registries);
  const target = registries.of(ref);
  const user = target.spec.auth?.users[0];
  await using client = new RegistryClient({ baseUrl: target.registry.url, ...(user ? { credentials: user } : {}) });
  const [repo, tag] = ref.split(':') as [string, string];
  const index = await client.getManifest(repo, tag);
  expect(isIndexMediaType(index.mediaType)).toBe(true);
  const desc = (JSON.parse(index.bytes.toString()) as ImageIndex).manifests.find((m) => m.platform?.architecture === architecture)!;
  const manifest = JSON.parse((await client.getManifest(repo, desc.digest)).bytes.toString()) as ImageManifest;
  const blobs = manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
  return { total: index.bytes.length + desc.size + blobs, blobs };
}

describe('scenarios/edge-and-core.yaml: two pools, two registries', () => {
  let results: RunResults;
  let loaded: LoadedScenario;

  it('rolls out on both pools from both registries, every pod ready, the password nowhere in the results', async () => {
    loaded = await load();
    ({ results } = await runScenario(loaded, { writeOutputs: false }));
    for (const arm of results.arms) {
      expect(arm.aggregate.failures.total).toBe(0);
      expect(arm.repetitions[0]!.steps.map((s) => s.completed)).toEqual([true, true]);
    }
    expect(JSON.stringify(results)).not.toContain('s3cret-for-tests');
  });

  it("has each pool pull its own platform's manifest and blobs: arm64 on the edge, amd64 in the core", async () => {
    const pods = results.arms.find((a) => a.arm.topology === 'direct')!.repetitions[0]!.pods;
    for (const ref of ['base/runtime:v1', 'shop/api:v1']) {
      const arm64 = await platformBytes(loaded, ref, 'arm64');
      const amd64 = await platformBytes(loaded, ref, 'amd64');
      expect(arm64.total).not.toBe(amd64.total);
      const sizes = (pool: string): number[] => [...new Set(pods.filter((p) => p.pool === pool && p.image.endsWith(`/${ref}`)).map((p) => p.imageSizeBytes!))];
      expect(sizes('edge')).toEqual([arm64.total]);
      expect(sizes('core')).toEqual([amd64.total]);
    }
    // The edge's link carried at least its nodes' arm64 blobs of the DaemonSet image (2 nodes, each pulls once).
    const edge = results.arms.find((a) => a.arm.topology === 'direct')!.repetitions[0]!.pools!.edge!;
    expect(edge.nodes).toBe(2);
    expect(edge.linkBytes.registry).toBeGreaterThanOrEqual(2 * (await platformBytes(loaded, 'base/runtime:v1', 'arm64')).blobs);
  });

  it('counts requests and bytes per registry: the app only at the private one (with tokens), the base at the public one or its mirror', () => {
    const direct = results.arms.find((a) => a.arm.topology === 'direct')!;
    const mirror = results.arms.find((a) => a.arm.topology === 'mirror')!;
    const rep = direct.repetitions[0]!;
    expect(Object.keys(rep.registries!)).toEqual(['public', 'private']);
    expect(rep.registries!.private!.registry.token).toBeGreaterThan(0);
    expect(rep.registries!.public!.registry.token).toBe(0);
    // 5 app pods, one pull each: a manifest GET per pod for the index and one for the platform manifest.
    expect(rep.registries!.private!.registry.manifestGet).toBeGreaterThanOrEqual(10);
    // The totals are the sum of the registries.
    expect(rep.registry.bytesServed).toBe(rep.registries!.public!.registry.bytesServed + rep.registries!.private!.registry.bytesServed);
    // The mirror arm: only the public registry has a mirror, the private one is pulled directly.
    const m = mirror.repetitions[0]!.registries!;
    expect(m.public!.mirror!.blobGet).toBeGreaterThan(0);
    expect(m.private!.mirror).toBeUndefined();
    expect(m.private!.registry.blobGet).toBe(rep.registries!.private!.registry.blobGet);
    expect(mirror.aggregate.byRegistry!.public!.bytes.mirror).toBeGreaterThan(0);
    expect(mirror.aggregate.byRegistry!.private!.bytes.mirror).toBe(0);
  });

  it('breaks every pod figure down by pool, the pools adding up to the total', () => {
    for (const arm of results.arms) {
      const { byPool } = arm.aggregate;
      expect(Object.keys(byPool!)).toEqual(['core', 'edge']);
      expect(byPool!.core!.pods + byPool!.edge!.pods).toBe(arm.aggregate.pods);
      expect(byPool!.core!.pull!.count + byPool!.edge!.pull!.count).toBe(arm.aggregate.pull!.count);
      expect(byPool!.edge!.linkBytes.registry + byPool!.edge!.linkBytes.mirror).toBeGreaterThan(0);
    }
    // A slow, far edge: its pulls take longer than the core's.
    const direct = results.arms.find((a) => a.arm.topology === 'direct')!.aggregate.byPool!;
    expect(direct.edge!.pull!.p50).toBeGreaterThan(direct.core!.pull!.p50);
  });

  it('puts the mirror at the edge: the edge takes the base image over its LAN, and the public registry serves less than without it', () => {
    const direct = results.arms.find((a) => a.arm.topology === 'direct')!.aggregate;
    const mirror = results.arms.find((a) => a.arm.topology === 'mirror')!.aggregate;
    expect(direct.byPool!.edge!.linkBytes.mirror).toBe(0);
    expect(mirror.byPool!.edge!.linkBytes.mirror).toBeGreaterThan(0);
    expect(mirror.byRegistry!.public!.bytes.registry).toBeLessThan(direct.byRegistry!.public!.bytes.registry);
  });
});

describe('pull secrets per registry host', () => {
  it("fails the app's pods when the secret names the public registry's host, not the private one's", async () => {
    const loaded = await load(['pullSecrets[0].registry=public', 'rollouts[1].expect=failure', 'rollouts[1].timeout=3s', 'matrix.topology=[direct]']);
    const { results } = await runScenario(loaded, { writeOutputs: false });
    const pods = results.arms[0]!.repetitions[0]!.pods;
    expect(pods.filter((p) => p.rollout === 'node-agent').every((p) => p.outcome === 'ready')).toBe(true);
    const app = pods.filter((p) => p.rollout === 'shop-api');
    expect(app.every((p) => p.outcome === 'failed')).toBe(true);
    expect(app.map((p) => p.lastError).join(' ')).toMatch(/401|unauthorized|authorization/i);
  });
});

describe('an image whose registry differs from another image of the same repository', () => {
  it('is seeded only into its own registry', async () => {
    const loaded = await load();
    await using registries = await registryStage(loaded.scenario);
    await seedStage(loaded, registries);
    const pub = registries.byName('public');
    await using client = new RegistryClient({ baseUrl: pub.registry.url });
    await expect(client.getManifest('shop/api', 'v1')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
  });
});
