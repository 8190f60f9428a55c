import { describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { parseScenario } from '../../src/scenario/load.js';

const base = `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: f }
images: [{ ref: demo/app:v1, synth: { layers: [1kB] } }, { ref: demo/gone:v1, absent: true }]
rollouts:
  - { name: app, deployment: { image: demo/app:v1 } }
`;
const issues = (text: string): string[] => {
  try {
    parseScenario(text, 'f.yaml');
    return [];
  } catch (err) {
    expect(isPullbenchError(err, 'SCENARIO_INVALID')).toBe(true);
    return ((err as { details?: { problems?: { path?: string; message: string }[] } }).details?.problems ?? []).map((i) => `${i.path}: ${i.message}`);
  }
};

describe('faults, proxy and absent images in the scenario', () => {
  it('accepts a timed fault on each target the scenario has', () => {
    const text = `${base}mirror: {}\nproxy: {}\nfaults:\n  - { target: registry, at: 5s, for: 60s, kind: 503 }\n  - { target: link:upstream, at: 0s, for: 1s, kind: reset }\n  - { target: proxy, after: app, at: 0s, for: 2s, kind: 407 }\n`;
    expect(issues(text).join('\n')).toMatch(/faults\[2\]\.kind/);
    const ok = parseScenario(text.replace('kind: 407', 'kind: stall'), 'f.yaml').scenario;
    expect(ok.faults.map((f) => [f.target, f.at, f.for, f.kind])).toEqual([['registry', 5000, 60_000, 503], ['link:upstream', 0, 1000, 'reset'], ['proxy', 0, 2000, 'stall']]);
  });

  it('refuses unknown targets, peers without topology p2p, statuses on a link, and unknown steps', () => {
    const out = issues(`${base}faults:\n  - { target: mirror, at: 0s, for: 1s, kind: 503 }\n  - { target: peers, at: 0s, for: 1s, kind: refuse }\n  - { target: registry, after: nope, at: 0s, for: 1s, kind: 503 }\n`).join('\n');
    expect(out).toMatch(/faults\[0\]\.target: unknown fault target "mirror"/);
    expect(out).toMatch(/faults\[1\]\.target: target peers needs topology p2p/);
    expect(out).toMatch(/faults\[2\]\.after: unknown rollout step "nope"/);
    expect(issues(`${base}faults: [{ target: link:registry, at: 0s, for: 1s, kind: 503 }]\n`).join('\n')).toMatch(/faults\[0\]\.kind: a link can refuse/);
  });

  it('takes faults on the peers of topology p2p, all or named nodes, with the kinds a peer can take', () => {
    const p2p = `${base}links: { peer: { upload: 1Gbit } }\np2p: { mode: [pieces] }\nmatrix: { topology: [p2p] }\ncluster: { nodes: 3 }\n`;
    const ok = parseScenario(`${p2p}faults:\n  - { target: peers, at: 0s, for: 5s, kind: corrupt, nodes: [node-1, node-3] }\n  - { target: peers, at: 1s, for: 5s, kind: stall }\n`, 'f.yaml').scenario;
    expect(ok.faults.map((f) => [f.target, f.kind, f.nodes])).toEqual([['peers', 'corrupt', ['node-1', 'node-3']], ['peers', 'stall', undefined]]);
    const out = issues(`${p2p}faults:\n  - { target: peers, at: 0s, for: 1s, kind: 503 }\n  - { target: registry, at: 0s, for: 1s, kind: corrupt }\n  - { target: registry, at: 0s, for: 1s, kind: 503, nodes: [node-1] }\n`).join('\n');
    expect(out).toMatch(/faults\[0\]\.kind: peers can refuse, reset, stall or corrupt/);
    expect(out).toMatch(/faults\[1\]\.kind: corrupt is for target peers/);
    expect(out).toMatch(/faults\[2\]\.nodes: nodes is for target peers/);
    expect(issues(`${p2p}faults: [{ target: peers, at: 0s, for: 1s, kind: reset, nodes: [node-4] }]\n`).join('\n')).toMatch(/faults\[0\]\.nodes\[0\]: unknown node "node-4"; the nodes are node-1, node-2, node-3/);
  });

  it('needs expect: failure to roll out an absent image', () => {
    const text = `${base}  - { name: gone, deployment: { image: demo/gone:v1 } }\n`;
    expect(issues(text).join('\n')).toMatch(/rollouts\[1\]\.expect: image "demo\/gone:v1" is absent/);
    expect(issues(text.replace('image: demo/gone:v1 } }', 'image: demo/gone:v1 }, expect: failure }'))).toEqual([]);
  });

  it('takes on kind and k3s the faults a registry or mirror container can take: refuse (docker stop), stall (docker pause)', () => {
    for (const driver of ['kind', 'k3s']) {
      const real = `${base}cluster: { driver: ${driver}, nodes: 1 }\nregistry: { provider: container }\nmirror: { provider: container }\n`;
      const text = `${real}faults:\n  - { target: registry, at: 0s, for: 60s, kind: refuse }\n  - { target: mirror, after: app, at: 1s, for: 5s, kind: stall }\n`;
      expect(issues(text)).toEqual([]);
    }
  });

  it('refuses before the run the faults a real cluster cannot take, naming each fault', () => {
    const real = `${base}cluster: { driver: kind }\nregistry: { provider: container }\n`;
    const out = issues(`${real}faults: [{ target: registry, at: 0s, for: 1s, kind: 503 }, { target: link:registry, at: 0s, for: 1s, kind: refuse }]\nproxy: {}\n`).join('\n');
    expect(out).toMatch(/faults\[0\]\.kind: driver kind: fault 503 on registry cannot run: .*refuse \(docker stop\) or stall \(docker pause\)/);
    expect(out).toMatch(/faults\[1\]\.target: driver kind: fault refuse on link:registry cannot run/);
    expect(out).toMatch(/proxy: driver kind/);
    expect(issues(`${base}cluster: { driver: kind }\nregistry: { provider: container }\nmirror: { provider: embedded }\nfaults: [{ target: mirror, at: 0s, for: 1s, kind: stall }]\n`).join('\n'))
      .toMatch(/faults\[0\]\.target: driver kind: fault stall on mirror needs the mirror in a container/);
    const external = `${base}cluster: { driver: kubeconfig }\nregistry: { provider: external, url: "https://r.example" }\nfaults: [{ target: registry, at: 0s, for: 1s, kind: refuse }]\n`;
    expect(issues(external).join('\n')).toMatch(/faults\[0\]: driver kubeconfig: fault refuse on registry cannot run: the registry is external/);
    expect(issues(`${base}cluster: { driver: model }\nfaults: [{ target: registry, at: 0s, for: 1s, kind: 503 }]\n`).join('\n')).toMatch(/model driver does not cover faults/);
  });

  it('gates on failed attempts per cause and on recovery', () => {
    const sc = parseScenario(`${base}faults: [{ target: registry, at: 0s, for: 1s, kind: 503 }]\nthresholds:\n  - { metric: pullFailures, cause: serverError, max: 3 }\n  - { metric: recovery, max: 30s }\n`, 'f.yaml').scenario;
    expect(sc.thresholds.map((t) => [t.metric, t.cause, t.max])).toEqual([['pullFailures', 'serverError', 3], ['recovery', undefined, 30_000]]);
    expect(issues(`${base}thresholds: [{ metric: recovery, max: 30s }, { metric: pull, cause: auth, max: 1s }]\n`).join('\n')).toMatch(/recovery is measured from the end of a fault[\s\S]*cause applies to pullFailures/);
  });
});
