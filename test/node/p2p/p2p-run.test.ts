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

  it('falls through to the registry when agents are killed mid-rollout: no pod lost, the dead agents counted', async () => {
    const images = ['  - { ref: demo/app:v1, synth: { layers: [100kB] } }', '  - { ref: demo/app:v2, from: demo/app:v1, synth: { layers: [2MB, 1MB] } }'].join('\n');
    const rollouts = ['  - { name: app, deployment: { image: demo/app:v1, replicas: 6, maxSurge: 1, maxUnavailable: 0 } }', '  - { name: v2, update: { target: app, image: demo/app:v2 } }'].join('\n');
    // The agents die at the first blob any node asks for: every later request of a killed node's runtime finds its agent
    // dead and falls through to the registry (no pull fails, so no kubelet back-off), and its peers no longer list it.
    const arm = await run(scenario({ nodes: 6, mode: 'whole-blob', rollouts, images, p2p: ', faults: { after: 0s, kill: 34% }' }));
    const a = arm.aggregate;
    expect(arm.repetitions[0]!.p2p).toMatchObject({ killed: 2, corrupting: 0 });
    expect(a.failures.total).toBe(0);
    expect(arm.repetitions[0]!.pods.every((p) => p.outcome === 'ready')).toBe(true);
    expect(a.p2p!.fallbacks.agentDown).toBeGreaterThan(0);
  }, 60_000);

  it('rejects corrupt bytes and skips refusing peers in a fault window: no pod lost, each node retries once after the window', async () => {
    const images = ['  - { ref: demo/app:v1, synth: { layers: [100kB] } }', '  - { ref: demo/app:v2, from: demo/app:v1, synth: { layers: [2MB, 1MB] } }'].join('\n');
    const rollouts = ['  - { name: app, deployment: { image: demo/app:v1, replicas: 6, maxSurge: 1, maxUnavailable: 0 } }', '  - { name: v2, update: { target: app, image: demo/app:v2 } }'].join('\n');
    // Every peer fails while step v2 starts: half serve corrupt bytes, half refuse. v2's first wave finds nothing on the
    // peers (the registry); every later peer fetch inside the window meets a fault. A corrupt blob fails the node's
    // pull and kubelet retries it after 10 s, past the 9 s window: one back-off per node at most, so the test is short.
    const faults = [
      'faults:',
      '  - { target: peers, after: v2, at: 0s, for: 9s, kind: corrupt, nodes: [node-1, node-2, node-3] }',
      '  - { target: peers, after: v2, at: 0s, for: 9s, kind: refuse, nodes: [node-4, node-5, node-6] }',
    ].join('\n');
    const arm = await run(scenario({ nodes: 6, mode: 'whole-blob', rollouts, images }) + faults);
    const a = arm.aggregate;
    const rep = arm.repetitions[0]!;
    expect(a.failures.total).toBe(0);
    expect(rep.pods.every((p) => p.outcome === 'ready')).toBe(true);
    const faulted = rep.faults!.faulted;
    expect((faulted.corrupt ?? 0) + (faulted.refuse ?? 0)).toBeGreaterThan(0);
    const f = a.p2p!.fallbacks;
    expect(f.corrupt + f.peerFailed).toBeGreaterThan(0);
    // No pod pulled more than twice: a corrupt fetch fails once, the retry comes after the window.
    expect(Math.max(...rep.pods.map((p) => p.pullAttempts?.length ?? 1))).toBeLessThanOrEqual(2);
    // 20-35 s on the shared 2-core machine at load 10-15; the timeout only guards a machine far busier than that.
  }, 180_000);
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

  it('rejects corrupt pieces and leaves refusing or resetting peers in a fault window: no pod lost, the fallbacks counted', async () => {
    // Every peer is faulted for the whole rollout (corrupt, refuse, reset): each child's pieces from its parents fail
    // their digest check or never arrive, the parents are blocklisted and the child ends at the source.
    const faults = [
      'faults:',
      '  - { target: peers, at: 0s, for: 5m, kind: corrupt, nodes: [node-1, node-2] }',
      '  - { target: peers, at: 0s, for: 5m, kind: refuse, nodes: [node-3, node-4] }',
      '  - { target: peers, at: 0s, for: 5m, kind: reset, nodes: [node-5, node-6] }',
    ].join('\n');
    const arm = await run(scenario({ nodes: 6, mode: 'pieces', rollouts: daemonSet, p2p: ', pieceLength: 256KiB' }) + faults);
    const a = arm.aggregate;
    const rep = arm.repetitions[0]!;
    expect(a.failures.total).toBe(0);
    expect(rep.pods.every((p) => p.outcome === 'ready')).toBe(true);
    // No piece a faulted peer sent was kept: every node's bytes came from the registry.
    expect(a.bytes.registry).toBeGreaterThanOrEqual(6 * imageBytes);
    const f = a.p2p!.fallbacks;
    expect(f.corrupt + f.peerFailed + f.aborted).toBeGreaterThan(0);
    expect(a.p2p!.backToSourcePeers).toBeGreaterThan(1);
  }, 120_000);
});
