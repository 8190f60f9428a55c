import { describe, expect, it } from 'vitest';
import type { RunResults } from '../../src/results/index.js';
import { runScenario } from '../../src/run/run.js';
import { parseScenario } from '../../src/scenario/load.js';

// Real runs: embedded registry (and mirror), emulated nodes with the embedded runtime, shaped links.
function scenario(body: string, set: string[] = []) {
  const text = `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: proof }
images:
  - { ref: demo/app:v1, synth: { layers: [300kB, 200kB, 100kB] } }
  - { ref: demo/app:v2, from: demo/app:v1, synth: { layers: [100kB] } }
${body}`;
  return parseScenario(text, 'proof.yaml', { set });
}

async function run(body: string, set: string[] = []): Promise<RunResults> {
  return (await runScenario(scenario(body, set), { writeOutputs: false })).results;
}

const rollouts = `rollouts:
  - { name: app, deployment: { image: demo/app:v1, replicas: 6, maxSurge: 25%, maxUnavailable: 0 } }
  - { name: upgrade, update: { target: app, image: demo/app:v2 } }
`;

describe('on a warm cluster', () => {
  it('IfNotPresent moves no blob bytes, and the warm cache was verified on every node', async () => {
    const r = await run(`cluster: { nodes: 3 }\n${rollouts}matrix: { pullPolicy: [IfNotPresent], cache: [warm] }\n`);
    const [arm] = r.arms;
    const rep = arm!.repetitions[0]!;
    expect(rep.cacheVerified).toBe(true);
    expect(rep.registry.blobGet).toBe(0);
    expect(rep.registry.bytesServed).toBe(0);
    expect(rep.pods.every((p) => p.alreadyPresent && p.outcome === 'ready')).toBe(true);
    expect(arm!.aggregate.alreadyPresent).toBe(12);
  });

  it('Always sends one manifest request per pod and no blob GETs', async () => {
    const r = await run(`cluster: { nodes: 3 }\n${rollouts}matrix: { pullPolicy: [Always], cache: [warm] }\n`);
    const rep = r.arms[0]!.repetitions[0]!;
    expect(rep.pods).toHaveLength(12);
    expect(rep.registry.manifestHead + rep.registry.manifestGet).toBe(12);
    expect(rep.registry.blobGet).toBe(0);
    expect(rep.pods.every((p) => p.pullMs !== undefined && !p.alreadyPresent)).toBe(true);
  });
});

describe('pre-pulled images', () => {
  it('are on every node before the rollout, so IfNotPresent pulls nothing even over a declared slow link', async () => {
    const r = await run(`cluster: { nodes: 2 }\nlinks: { registry: { bandwidth: 1Mbit, latency: 100ms } }\n${rollouts}matrix: { pullPolicy: [IfNotPresent], topology: [pre-pulled] }\n`);
    const [arm] = r.arms;
    expect(arm!.arm.name).toBe('IfNotPresent/pre-pulled/warm');
    expect(arm!.repetitions[0]!.cacheVerified).toBe(true);
    expect(arm!.aggregate.requests.registryBlobGet).toBe(0);
    expect(arm!.aggregate.alreadyPresent).toBe(12);
  });
});

describe('with a pull-through mirror', () => {
  const mirrorScenario = `mirror: { provider: embedded }\n${rollouts}matrix: { pullPolicy: [IfNotPresent], topology: [mirror] }\n`;
  // v1: config + 3 layers + the /pause entrypoint layer; v2: config + 1 new layer (the other four are v1's).
  const distinctBlobs = 7;

  it.each([2, 5])('the upstream serves each blob once with %i nodes', async (nodes) => {
    const r = await run(`cluster: { nodes: ${nodes} }\n${mirrorScenario}`);
    const rep = r.arms[0]!.repetitions[0]!;
    expect(rep.registry.blobGet).toBe(distinctBlobs);
    expect(rep.mirror!.upstreamBlobGet).toBe(distinctBlobs);
    expect(rep.mirror!.blobGet).toBe(distinctBlobs * nodes);
    expect(r.arms[0]!.aggregate.mirrorHitRatio).toBeCloseTo(1 - 1 / nodes, 5);
  });
});

describe('link speed', () => {
  it('a link 4x slower makes pulls about 4x slower', async () => {
    // The link's share of a pull, without the disk store's fixed costs (its timing is checked against containerd).
    const body = (bw: string) => `images:\n  - { ref: demo/big:v1, synth: { layers: [1500kB] } }\ncluster: { nodes: 1, layerStore: inflate-only }\nlinks: { registry: { bandwidth: ${bw}, latency: 0ms } }\nrollouts:\n  - { name: app, deployment: { image: demo/big:v1, replicas: 1 } }\nrepeat: 2\n`;
    const header = 'apiVersion: pullbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: speed }\n';
    const fast = (await runScenario(parseScenario(header + body('48Mbit'), 's.yaml'), { writeOutputs: false })).results;
    const slow = (await runScenario(parseScenario(header + body('12Mbit'), 's.yaml'), { writeOutputs: false })).results;
    const ratio = slow.arms[0]!.aggregate.pull!.p50 / fast.arms[0]!.aggregate.pull!.p50;
    // 1.5 MB: 1.0 s at 12 Mbit/s vs 0.25 s at 48 Mbit/s, plus fixed costs the slow link hides less.
    expect(ratio).toBeGreaterThan(2.5);
    expect(ratio).toBeLessThan(4.6);
    expect(slow.arms[0]!.aggregate.pull!.p50).toBeGreaterThan(900);
  });
});
