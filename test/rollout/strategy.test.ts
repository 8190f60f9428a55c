import { describe, expect, it } from 'vitest';
import { SpreadScheduler } from '../../src/rollout/scheduler.js';
import { daemonSetSync, deploymentSync, resolveFenceposts, scaled, type PodState } from '../../src/rollout/strategy.js';

const pods = (prefix: string, n: number, available = true): PodState[] => Array.from({ length: n }, (_, i) => ({ uid: `${prefix}${i}`, available }));

describe('maxSurge / maxUnavailable rounding', () => {
  it('rounds surge up and unavailable down, as Kubernetes does', () => {
    expect(resolveFenceposts('25%', '25%', 10)).toEqual({ surge: 3, unavailable: 2 });
    expect(resolveFenceposts('25%', '25%', 1)).toEqual({ surge: 1, unavailable: 0 });
    expect(resolveFenceposts(2, '50%', 5)).toEqual({ surge: 2, unavailable: 2 });
  });
  it('makes unavailable 1 when both round to 0', () => {
    expect(resolveFenceposts('0%', '10%', 5)).toEqual({ surge: 0, unavailable: 1 });
  });
  it('scales percentages of a total', () => {
    expect(scaled('33%', 10, true)).toBe(4);
    expect(scaled('33%', 10, false)).toBe(3);
    expect(scaled(7, 10, false)).toBe(7);
  });
});

describe('a Deployment rolling update of 10 replicas at 25%/25%', () => {
  const spec = { replicas: 10, maxSurge: '25%' as const, maxUnavailable: '25%' as const };
  it('creates the whole new ReplicaSet at once when there is nothing old', () => {
    expect(deploymentSync(spec, [], [])).toEqual({ create: 10, delete: [] });
  });
  it('surges 3 new pods first', () => {
    expect(deploymentSync(spec, pods('o', 10), [])).toEqual({ create: 3, delete: [] });
  });
  it('then scales 2 old pods down while the new ones are not ready (8 stay available)', () => {
    expect(deploymentSync(spec, pods('o', 10), pods('n', 3, false))).toEqual({ create: 0, delete: ['o0', 'o1'] });
  });
  it('then fills the surge again', () => {
    expect(deploymentSync(spec, pods('o', 8), pods('n', 3, false))).toEqual({ create: 2, delete: [] });
  });
  it('then waits: 13 pods, 8 available, nothing more may go', () => {
    expect(deploymentSync(spec, pods('o', 8), pods('n', 5, false))).toEqual({ create: 0, delete: [] });
  });
  it('removes unhealthy old pods before healthy ones', () => {
    const old = [...pods('bad', 2, false), ...pods('o', 8)];
    expect(deploymentSync(spec, old, pods('n', 3, true)).delete).toEqual(['bad0', 'bad1', 'o0', 'o1', 'o2']);
  });
  it('with maxSurge 0 and maxUnavailable 1, replaces one pod at a time', () => {
    const one = { replicas: 4, maxSurge: 0, maxUnavailable: 1 };
    expect(deploymentSync(one, pods('o', 4), [])).toEqual({ create: 0, delete: ['o0'] });
    expect(deploymentSync(one, pods('o', 3), [])).toEqual({ create: 1, delete: [] });
    expect(deploymentSync(one, pods('o', 3), pods('n', 1, false))).toEqual({ create: 0, delete: [] });
  });
});

describe('a DaemonSet rolling update', () => {
  it('creates a pod on every node without one', () => {
    expect(daemonSetSync(1, [{ node: 'a' }, { node: 'b' }])).toEqual({ create: ['a', 'b'], delete: [] });
  });
  it('replaces maxUnavailable nodes at a time (percentages round up)', () => {
    const nodes = ['a', 'b', 'c', 'd', 'e'].map((node) => ({ node, old: { uid: `o-${node}`, available: true } }));
    expect(daemonSetSync('30%', nodes).delete).toEqual(['o-a', 'o-b']);
    const midway = [{ node: 'a', new: { uid: 'n-a', available: false } }, ...nodes.slice(1)];
    expect(daemonSetSync(1, midway)).toEqual({ create: [], delete: [] });
  });
});

describe('spreading pods over identical nodes', () => {
  it('fills nodes evenly, round-robin', () => {
    const s = new SpreadScheduler(['n1', 'n2', 'n3']);
    const placed = Array.from({ length: 7 }, () => s.schedule('app'));
    expect(placed).toEqual(['n1', 'n2', 'n3', 'n1', 'n2', 'n3', 'n1']);
  });
  it('sends a pod to the node that lost one', () => {
    const s = new SpreadScheduler(['n1', 'n2', 'n3']);
    for (let i = 0; i < 6; i++) s.schedule('app');
    s.release('n2', 'app');
    expect(s.schedule('app')).toBe('n2');
  });
});
