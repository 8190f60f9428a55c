import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/oci/client.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { embeddedRegistry } from '../../src/registry/provider.js';
import { renderSummary } from '../../src/report/render.js';
import { LoadStage } from '../../src/run/load-stage.js';
import { runScenario } from '../../src/run/run.js';
import { parseScenario } from '../../src/scenario/load.js';
import { pendingCleanups } from '../../src/util/cleanup.js';

const PASSWORD = 'storm-s3cret-pw';

describe('storms against the registry with credentials and against the arm\'s mirror', { timeout: 120_000 }, () => {
  it('authenticates as the scenario user without printing the password, skips mirror storms on direct arms, and stops a timed storm on its own', async () => {
    const yaml = `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: targets }
registry:
  auth: { users: [{ username: ci, password: "${PASSWORD}" }] }
mirror: { provider: embedded }
links: { registry: { bandwidth: 8Mbit, latency: 5ms } }
pullSecrets: [{ name: reg, username: ci, password: "${PASSWORD}" }]
images:
  - { ref: demo/app:v1, synth: { layers: [3MB] } }
cluster: { nodes: 2 }
rollouts:
  - { name: app, deployment: { image: demo/app:v1, replicas: 2, imagePullSecrets: [reg] }, timeout: 60s }
matrix: { topology: [direct, mirror] }
load:
  - { name: tokens, profile: token, connections: 2, duration: 500ms, startBefore: 300ms }
  - { name: cache, profile: manifest-get, target: mirror, connections: 2 }
`;
    const results = (await runScenario(parseScenario(yaml, 'targets.yaml'), { writeOutputs: false })).results;
    const direct = results.arms.find((a) => a.arm.topology === 'direct')!;
    const mirror = results.arms.find((a) => a.arm.topology === 'mirror')!;
    expect(results.gate.passed).toBe(true);
    expect(direct.aggregate.load!.map((r) => r.storm)).toEqual(['tokens']);
    expect(mirror.aggregate.load!.map((r) => r.storm)).toEqual(['tokens', 'cache']);

    // Token requests with the scenario user's Basic credentials: every one answered 200.
    const dRep = direct.repetitions[0]!;
    const tokens = dRep.load![0]!.result;
    expect(tokens.byKind.token!.requests).toBeGreaterThan(10);
    expect(tokens.byKind.token!.ok).toBe(tokens.byKind.token!.requests);
    expect(dRep.registry.token).toBeGreaterThanOrEqual(tokens.byKind.token!.requests);
    // 500ms from 300ms before the rollout (3 MB at 8 Mbit/s: 3 s or more): it ended on its own,
    // well before the rollout did. (A busy machine stops it late, so no tighter bound on its length.)
    expect(dRep.rolloutDurationMs).toBeGreaterThan(3000);
    expect(tokens.durationSeconds).toBeLessThan(dRep.rolloutDurationMs / 1000 - 1);
    expect(Date.parse(tokens.startedAt)).toBeLessThanOrEqual(dRep.startedAt - 200);
    expect(Date.parse(tokens.finishedAt)).toBeLessThan(dRep.startedAt + dRep.rolloutDurationMs);

    // The mirror storm hit the mirror (anonymously), and the mirror's counts include it.
    const mRep = mirror.repetitions[0]!;
    const cache = mRep.load!.find((l) => l.storm === 'cache')!;
    expect(cache).toMatchObject({ target: 'mirror', image: 'demo/app:v1' });
    expect(cache.result.auth).toBe('none');
    expect(cache.result.byKind.manifestGet!.ok).toBeGreaterThan(10);
    expect(mRep.mirror!.manifestGet).toBeGreaterThanOrEqual(cache.result.byKind.manifestGet!.requests);

    expect(JSON.stringify(results)).not.toContain(PASSWORD);
    expect(renderSummary(results)).not.toContain(PASSWORD);
  });
});

describe('disposing the load stage', { timeout: 60_000 }, () => {
  it('stops the storm: the registry sees no more requests, and nothing is left registered for Ctrl-C', async () => {
    await using registry = await embeddedRegistry.start({ storage: 'memory' });
    await pushSynthImage(new RegistryClient({ baseUrl: registry.url }), 'demo/app', 'v1', { layers: [64_000], platforms: [parsePlatform('linux/amd64')], compression: 'gzip', seed: 'dispose' });
    const { scenario } = parseScenario(
      `apiVersion: pullbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: d }\nimages: [{ ref: demo/app:v1, synth: { layers: [64kB] } }]\nrollouts: [{ name: app, deployment: { image: demo/app:v1 } }]\nload: [{ profile: manifest-head, connections: 4, startBefore: 0s }]\n`,
      'd.yaml',
    );
    const stage = (await LoadStage.prepare(scenario, { registry }))!;
    expect(pendingCleanups()).toContain('load stage');
    await stage.start();
    await sleep(500);
    await stage[Symbol.asyncDispose]();
    expect(pendingCleanups()).not.toContain('load stage');
    // Requests already in flight may still land; after that, silence.
    await sleep(200);
    const after = registry.stats().manifestHead;
    expect(after).toBeGreaterThan(20);
    await sleep(500);
    expect(registry.stats().manifestHead).toBe(after);
  });
});

describe('preparing a storm on the mirror', { timeout: 60_000 }, () => {
  it('finds the image on the upstream registry, so the mirror\'s cache is not primed before the rollout', async () => {
    const users = [{ username: 'ci', password: PASSWORD }];
    await using upstream = await embeddedRegistry.start({ storage: 'memory', auth: 'basic', users });
    await using mirror = await embeddedRegistry.start({ storage: 'memory', upstream: { url: upstream.url, credentials: users[0]! } });
    const pusher = new RegistryClient({ baseUrl: upstream.url, credentials: users[0]! });
    await pushSynthImage(pusher, 'demo/app', 'v1', { layers: [64_000], platforms: [parsePlatform('linux/amd64')], compression: 'gzip', seed: 'prime' });
    await pusher.close();
    const { scenario } = parseScenario(
      `apiVersion: pullbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: p }\nregistry: { auth: { users: [{ username: ci, password: "${PASSWORD}" }] } }\nmirror: { provider: embedded }\nimages: [{ ref: demo/app:v1, synth: { layers: [64kB] } }]\nrollouts: [{ name: app, deployment: { image: demo/app:v1 } }]\nload: [{ profile: manifest-get, target: mirror, connections: 2, startBefore: 0s }]\n`,
      'p.yaml',
    );
    mirror.resetStats();
    await using stage = (await LoadStage.prepare(scenario, { registry: upstream, mirror }))!;
    expect(mirror.stats().manifestGet + mirror.stats().manifestHead).toBe(0);
    // A cold mirror asked for the tag must fetch the manifest from upstream: it did not have it yet.
    upstream.resetStats();
    const node = new RegistryClient({ baseUrl: mirror.url });
    await node.getManifest('demo/app', 'v1');
    await node.close();
    expect(upstream.stats().manifestGet).toBe(1);
    // The storm itself still hammers the mirror, anonymously.
    await stage.start();
    await sleep(500);
    const [run] = await stage.stop();
    expect(run).toMatchObject({ target: 'mirror', image: 'demo/app:v1' });
    expect(run!.result.auth).toBe('none');
    expect(run!.result.target).toBe(mirror.url);
    expect(run!.result.byKind.manifestGet!.ok).toBeGreaterThan(5);
    expect(mirror.stats().manifestGet).toBeGreaterThanOrEqual(run!.result.byKind.manifestGet!.ok);
  });
});
