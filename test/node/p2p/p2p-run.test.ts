import { describe, expect, it } from 'vitest';
import type { ArmResult, RunResults } from '../../../src/results/index.js';
import { runScenario } from '../../../src/run/run.js';
import { parseScenario } from '../../../src/scenario/load.js';

// Emulated clusters through the product's run path: real HTTP between the nodes' agents, shaped peer links, the
// embedded runtime's disk store (what Spegel serves from). Small images and few nodes: behaviour, not timing.
const scenario = (opts: { nodes: number; rollouts: string; mode: string; p2p?: string; images?: string }): string => `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: p2p-test }
links:
  registry: { bandwidth: 400Mbit, latency: 2ms, sharedUplink: 400Mbit }
  peer: { upload: 400Mbit, latency: 1ms }
p2p: { mode: [${opts.mode}]${opts.p2p ?? ''} }
images:
${opts.images ?? '  - { ref: demo/app:v1, synth: { layers: [2MB, 1MB] } }'}
cluster: { nodes: ${opts.nodes}, kubelet: { serializeImagePulls: false } }
rollouts:
${opts.rollouts}
matrix: { topology: [p2p] }
`;

const run = async (text: string): Promise<ArmResult> => {
  const results: RunResults = (await runScenario(parseScenario(text, 'p2p-test.yaml'), { writeOutputs: false })).results;
  expect(results.arms).toHaveLength(1);
  return results.arms[0]!;
};

const imageBytes = 3_000_000;
const daemonSet = '  - { name: agent, daemonSet: { image: demo/app:v1 } }';

describe('topology p2p, whole-blob (Spegel-like)', () => {
  it('shows the thundering herd on a simultaneous cold DaemonSet: most nodes go to the registry', async () => {
    const arm = await run(scenario({ nodes: 6, mode: 'whole-blob', rollouts: daemonSet }));
    const a = arm.aggregate;
    expect(a.failures.total).toBe(0);
    // Nothing is committed anywhere when every node asks: most fall through to the registry.
    expect(a.bytes.registry).toBeGreaterThan(0.5 * 6 * imageBytes);
    expect(a.p2p!.backToSourceRatio).toBeGreaterThan(0.5);
    expect(a.p2p!.fallbacks.miss).toBeGreaterThan(0);
  });

  it('cuts the registry bytes of an update rolled in waves to about one image per wave, the rest from peers', async () => {
    const images = ['  - { ref: demo/app:v1, synth: { layers: [100kB] } }', '  - { ref: demo/app:v2, from: demo/app:v1, synth: { layers: [2MB, 1MB] } }'].join('\n');
    const rollouts = ['  - { name: app, deployment: { image: demo/app:v1, replicas: 6, maxSurge: 1, maxUnavailable: 0 } }', '  - { name: v2, update: { target: app, image: demo/app:v2 } }'].join('\n');
    const arm = await run(scenario({ nodes: 6, mode: 'whole-blob', rollouts, images }));
    const a = arm.aggregate;
    expect(a.failures.total).toBe(0);
    // v1 (100 kB) at most once per node; v2's 3 MB from the registry about once (its first wave), not six times.
    const v2FromRegistry = a.bytes.registry - 6 * 100_000;
    expect(v2FromRegistry).toBeLessThan(2 * imageBytes);
    expect(a.bytes.peers).toBeGreaterThan(3 * imageBytes);
    // v2's three blobs came from peers on (nearly) every later wave's node.
    expect(arm.repetitions[0]!.p2p!.fromPeers).toBeGreaterThanOrEqual(3 * 4);
    expect(a.p2p!.uploadMax).toBeGreaterThan(0);
  });

  it('falls back when peers are killed or serve corrupt bytes mid-rollout: no pod lost, the fallbacks counted', async () => {
    const images = ['  - { ref: demo/app:v1, synth: { layers: [100kB] } }', '  - { ref: demo/app:v2, from: demo/app:v1, synth: { layers: [2MB, 1MB] } }'].join('\n');
    const rollouts = ['  - { name: app, deployment: { image: demo/app:v1, replicas: 6, maxSurge: 1, maxUnavailable: 0 } }', '  - { name: v2, update: { target: app, image: demo/app:v2 } }'].join('\n');
    // The faults strike at the first blob any node asks for (after: 0s): with a later instant a quick rollout can end
    // before they fire (nothing killed, nothing to count), so the test would depend on the machine's speed.
    const arm = await run(scenario({ nodes: 6, mode: 'whole-blob', rollouts, images, p2p: ', faults: { after: 0s, kill: 34%, corrupt: 34% }' }));
    const a = arm.aggregate;
    expect(arm.repetitions[0]!.p2p).toMatchObject({ killed: 2, corrupting: 2 });
    expect(a.failures.total).toBe(0);
    expect(arm.repetitions[0]!.pods.every((p) => p.outcome === 'ready')).toBe(true);
    const f = a.p2p!.fallbacks;
    expect(f.peerFailed + f.corrupt + f.aborted + f.agentDown + f.miss).toBeGreaterThan(0);
    // A blob a corrupt peer served fails the pull, and kubelet retries after its backoff (10 s, doubling): a node that
    // draws corrupt peers three times in a row takes 70 s of backoff alone (seen: 95 s), so 120 s assumed luck.
  }, 300_000);
});

describe('topology p2p, pieces (Dragonfly-like)', () => {
  it('takes at most 1.5x the image from the registry on a simultaneous cold DaemonSet', async () => {
    const arm = await run(scenario({ nodes: 6, mode: 'pieces', rollouts: daemonSet, p2p: ', pieceLength: 256KiB' }));
    const a = arm.aggregate;
    expect(a.failures.total).toBe(0);
    expect(a.bytes.registry).toBeLessThanOrEqual(1.5 * imageBytes + 200_000);
    expect(a.bytes.peers).toBeGreaterThan(4 * imageBytes);
    expect(a.p2p!.peerHitRatio).toBeGreaterThan(0.6);
  });

  it('refetches from other parents or the source when peers are killed or serve corrupt pieces: no pod lost, the fallbacks counted', async () => {
    const arm = await run(scenario({ nodes: 6, mode: 'pieces', rollouts: daemonSet, p2p: ', pieceLength: 128KiB, faults: { after: 200ms, kill: 17%, corrupt: 34% }' }));
    const a = arm.aggregate;
    expect(arm.repetitions[0]!.p2p).toMatchObject({ killed: 1, corrupting: 2 });
    expect(a.failures.total).toBe(0);
    expect(arm.repetitions[0]!.pods.every((p) => p.outcome === 'ready')).toBe(true);
    const f = a.p2p!.fallbacks;
    expect(f.corrupt + f.peerFailed + f.aborted + f.agentDown).toBeGreaterThan(0);
  }, 120_000);
});
