import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { PeerFlows } from '../../src/model/peer-flows.js';
import { runInVirtualTime } from '../../src/model/virtual-time.js';
import type { ArmResult, RunResults } from '../../src/results/index.js';
import { runScenario } from '../../src/run/run.js';
import { parseScenario } from '../../src/scenario/load.js';

// When each transfer ends, in ms from the start, for transfers started at given instants.
async function endTimes(flows: (clock: ManualClock) => PeerFlows, transfers: { at: number; from: number; to: number; bytes: number }[]): Promise<number[]> {
  const clock = new ManualClock(0);
  return runInVirtualTime(clock, async () => {
    const net = flows(clock);
    return Promise.all(
      transfers.map(async (t) => {
        await clock.sleep(t.at);
        await net.transfer(t.from, t.to, t.bytes);
        return clock.now();
      }),
    );
  });
}

describe('peer links as flows (PeerFlows)', () => {
  it("splits a node's upload between the peers it serves, and gives the rest back when one ends", async () => {
    // Upload 30 B/ms, download 100: three downloads from node 0 get 10 B/ms each; when the 500-byte one ends at 50 ms,
    // the other two get 15 each: the 1,000-byte one ends at 50 + 500/15.
    const ends = await endTimes((c) => new PeerFlows(c, 4, 30, 100), [
      { at: 0, from: 0, to: 1, bytes: 500 },
      { at: 0, from: 0, to: 2, bytes: 1000 },
      { at: 0, from: 0, to: 3, bytes: 2000 },
    ]);
    expect(ends[0]).toBeCloseTo(50, 6);
    expect(ends[1]).toBeCloseTo(50 + 500 / 15, 6);
    // The last: 500 bytes at 10, 500 at 15, then alone at 30.
    expect(ends[2]).toBeCloseTo(50 + 500 / 15 + (2000 - 500 - 500) / 30, 6);
  });

  it("holds a transfer to the slower of the uploader's share and the downloader's share (max-min fair)", async () => {
    // Node 2 downloads from 0 and 1 over a 40 B/ms download; node 0 also uploads to 3 (upload 30 each). Fair shares:
    // node 0's upload gives 15 to each of its two; node 2's download then leaves 25 for the flow from node 1.
    const ends = await endTimes((c) => new PeerFlows(c, 4, 30, 40), [
      { at: 0, from: 0, to: 2, bytes: 150 },
      { at: 0, from: 0, to: 3, bytes: 150 },
      { at: 0, from: 1, to: 2, bytes: 250 },
    ]);
    expect(ends[0]).toBeCloseTo(10, 6);
    expect(ends[1]).toBeCloseTo(10, 6);
    expect(ends[2]).toBeCloseTo(10, 6);
  });

  it('counts what each node uploaded and what the nodes received', async () => {
    const clock = new ManualClock(0);
    const net = new PeerFlows(clock, 3, 10, 10);
    await runInVirtualTime(clock, () => Promise.all([net.transfer(0, 1, 100), net.transfer(0, 2, 50), net.transfer(2, 1, 30)]));
    expect(net.uploaded).toEqual([150, 0, 30]);
    expect(net.received).toBe(180);
  });
});

// The same scenarios as test/node/p2p/p2p-run.test.ts's live ones, modelled: the model must show the same behaviour.
const scenario = (opts: { nodes: number; rollouts: string; images?: string; mode?: string }): string => `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: p2p-model-test }
links:
  registry: { bandwidth: 400Mbit, latency: 2ms, sharedUplink: 400Mbit }
  peer: { upload: 400Mbit, latency: 1ms }
p2p: { mode: [${opts.mode ?? 'whole-blob'}] }
images:
${opts.images ?? '  - { ref: demo/app:v1, synth: { layers: [2MB, 1MB] } }'}
cluster: { driver: model, nodes: ${opts.nodes}, kubelet: { serializeImagePulls: false } }
rollouts:
${opts.rollouts}
matrix: { topology: [direct, p2p] }
`;

const run = async (text: string): Promise<Record<string, ArmResult>> => {
  const results: RunResults = (await runScenario(parseScenario(text, 'p2p-model-test.yaml'), { writeOutputs: false })).results;
  return Object.fromEntries(results.arms.map((a) => [a.arm.name.split('/')[1]!, a]));
};
const daemonSet = '  - { name: agent, daemonSet: { image: demo/app:v1 } }';

const imageBytes = 3_000_000;
const waves = {
  images: ['  - { ref: demo/app:v1, synth: { layers: [100kB] } }', '  - { ref: demo/app:v2, from: demo/app:v1, synth: { layers: [2MB, 1MB] } }'].join('\n'),
  rollouts: ['  - { name: app, deployment: { image: demo/app:v1, replicas: NODES, maxSurge: 1, maxUnavailable: 0 } }', '  - { name: v2, update: { target: app, image: demo/app:v2 } }'].join('\n'),
};

describe('the model driver, topology p2p whole-blob (Spegel-like)', () => {
  it('shows the thundering herd on a simultaneous cold DaemonSet: most nodes go to the registry', async () => {
    const arms = await run(scenario({ nodes: 50, rollouts: daemonSet }));
    const p2p = arms['p2p-whole-blob']!.aggregate;
    expect(p2p.failures.total).toBe(0);
    expect(p2p.pods).toBe(50);
    // Nothing is committed anywhere when every node asks, and a miss stays cached 5 s: nearly every node goes to the registry.
    expect(p2p.bytes.registry).toBeGreaterThan(0.8 * 50 * imageBytes);
    expect(p2p.p2p!.backToSourceRatio).toBeGreaterThan(0.8);
    expect(p2p.p2p!.fallbacks.miss).toBeGreaterThan(50);
    // Direct, for scale: every node's image from the registry.
    expect(arms.direct!.aggregate.bytes.registry).toBeGreaterThanOrEqual(50 * imageBytes);
  });

  it('cuts the registry bytes of an update rolled in waves to about one image per wave, the rest from peers', async () => {
    const nodes = 12;
    const arms = await run(scenario({ nodes, images: waves.images, rollouts: waves.rollouts.replace('NODES', String(nodes)) }));
    const arm = arms['p2p-whole-blob']!;
    const a = arm.aggregate;
    expect(a.failures.total).toBe(0);
    // v1 (100 kB) at most once per node; v2's 3 MB from the registry about once (its first wave), not twelve times.
    const v2FromRegistry = a.bytes.registry - nodes * 100_000;
    expect(v2FromRegistry).toBeLessThan(2 * imageBytes);
    expect(a.bytes.peers).toBeGreaterThan((nodes - 2) * imageBytes);
    expect(arm.repetitions[0]!.p2p!.fromPeers).toBeGreaterThanOrEqual(3 * (nodes - 2));
    expect(a.p2p!.uploadMax).toBeGreaterThan(0);
    // Direct takes v2 from the registry on every node.
    expect(arms.direct!.aggregate.bytes.registry).toBeGreaterThanOrEqual(nodes * (imageBytes + 100_000));
    expect(a.bytes.registry).toBeLessThan(arms.direct!.aggregate.bytes.registry / 3);
  });

  it('gives the same results for the same scenario twice', async () => {
    const text = scenario({ nodes: 30, images: waves.images, rollouts: waves.rollouts.replace('NODES', '30') });
    const [a, b] = [await run(text), await run(text)];
    expect(JSON.stringify(a['p2p-whole-blob']!.repetitions)).toBe(JSON.stringify(b['p2p-whole-blob']!.repetitions));
  });
});

describe('the model driver, topology p2p pieces (Dragonfly-like)', () => {
  it('takes at most 1.5x the image from the registry on a simultaneous cold DaemonSet; the peers carry the rest', async () => {
    const nodes = 50;
    const arms = await run(scenario({ nodes, mode: 'pieces', rollouts: daemonSet }));
    const arm = arms['p2p-pieces']!;
    const a = arm.aggregate;
    expect(a.failures.total).toBe(0);
    expect(a.pods).toBe(nodes);
    // Blobs only: the manifests and config pass through each node's agent to the registry (a few kB per node).
    const rep = arm.repetitions[0]!;
    expect(rep.p2p!.sourceBytes).toBeLessThanOrEqual(1.5 * imageBytes);
    expect(rep.p2p!.sourceBytes).toBeGreaterThanOrEqual(imageBytes);
    expect(a.bytes.peers).toBeGreaterThanOrEqual((nodes - 2) * imageBytes);
    expect(rep.p2p!.backToSourcePeers).toBeGreaterThan(0);
    expect(rep.p2p!.fromPeers).toBeGreaterThan(0);
    // Faster than direct, whose 50 nodes share the registry's one uplink.
    expect(arm.repetitions[0]!.rolloutDurationMs).toBeLessThan(arms.direct!.repetitions[0]!.rolloutDurationMs);
  });

  it('gives the same results for the same scenario twice', async () => {
    const text = scenario({ nodes: 30, mode: 'pieces', rollouts: daemonSet });
    const [a, b] = [await run(text), await run(text)];
    expect(JSON.stringify(a['p2p-pieces']!.repetitions)).toBe(JSON.stringify(b['p2p-pieces']!.repetitions));
  });
});
