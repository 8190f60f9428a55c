import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { pieceLengthFor, PieceScheduler } from '../../../src/node/p2p/piece-scheduler.js';
import type { PieceOptions } from '../../../src/node/p2p/options.js';

const MiB = 1024 * 1024;
const opts: PieceOptions = {
  pieceLengthScale: 1, candidateParentLimit: 3, filterParentLimit: 15, backToSourceCount: 200, retryBackToSourceLimit: 4, retryIntervalMs: 500, concurrentPieceCount: 8,
};

describe("Dragonfly's default piece length", () => {
  it('is 4 MiB up to 2 GB, then size / 500 rounded up to a power of two, at most 64 MiB', () => {
    expect(pieceLengthFor(200e6)).toBe(4 * MiB);
    expect(pieceLengthFor(3 * 1024 * MiB)).toBe(8 * MiB);
    expect(pieceLengthFor(100 * 1024 * MiB)).toBe(64 * MiB);
  });

  it('shrinks with a scaled run, so a scaled blob keeps its piece count', () => {
    expect(Math.ceil(20e6 / pieceLengthFor(20e6, 0.1))).toBe(Math.ceil(200e6 / pieceLengthFor(200e6)));
  });
});

describe('the piece scheduler', () => {
  it('sends the first peer of a blob back to source and gives the next ones it as a parent', async () => {
    const s = new PieceScheduler(opts, new ManualClock());
    const t = s.task('sha256:a');
    expect(await s.register(t, 0, new Set())).toEqual({ backToSource: true });
    expect(await s.register(t, 1, new Set())).toEqual({ backToSource: false, parents: [0] });
    // Node 1 now downloads from a parent (in-degree 1): it is a candidate too.
    const third = await s.register(t, 2, new Set());
    expect(third.backToSource).toBe(false);
    expect(third.backToSource === false && [...third.parents].sort()).toEqual([0, 1]);
    expect(s.backToSourcePeers).toBe(1);
  });

  it('gives at most candidateParentLimit parents, the least loaded first, so uploads spread over the peers', async () => {
    const s = new PieceScheduler({ ...opts, candidateParentLimit: 2 }, new ManualClock());
    const t = s.task('sha256:b');
    await s.register(t, 0, new Set());
    s.setSize(t, 10 * 4 * MiB);
    for (const n of [1, 2, 3]) await s.register(t, n, new Set());
    // Node 0 is everyone's parent so far: a new peer gets two of the unloaded ones.
    const d = await s.register(t, 4, new Set());
    expect(d.backToSource).toBe(false);
    expect(d.backToSource === false && d.parents).toHaveLength(2);
    expect(d.backToSource === false && d.parents).not.toContain(0);
  });

  it("ranks a parent by its host's uploads over every blob, not only the one being scheduled", async () => {
    const s = new PieceScheduler({ ...opts, candidateParentLimit: 2 }, new ManualClock());
    // Blob a: node 0 goes to source and serves nodes 1, 2 and 3 (the blocklists leave it the only candidate).
    const a = s.task('sha256:a1');
    await s.register(a, 0, new Set());
    for (const n of [1, 2, 3]) await s.register(a, n, new Set([1, 2, 3]));
    expect(s.hostLoad(0).edges).toBe(3);
    // Blob b: node 5 goes to source, node 6 downloads from it, node 0 from node 6.
    const b = s.task('sha256:b1');
    await s.register(b, 5, new Set());
    await s.register(b, 6, new Set());
    await s.register(b, 0, new Set([5]));
    // In blob b node 0 serves nobody, but its host already uploads blob a to three peers: nodes 5 and 6 rank first.
    const d = await s.register(b, 7, new Set());
    expect(d.backToSource === false && [...d.parents].sort()).toEqual([5, 6]);
  });

  it("stops counting a peer against its parents' hosts once it succeeds, fails or goes to source", async () => {
    const clock = new ManualClock();
    const s = new PieceScheduler(opts, clock);
    const t = s.task('sha256:g');
    await s.register(t, 0, new Set());
    await s.register(t, 1, new Set());
    await s.register(t, 2, new Set([1]));
    expect(s.hostLoad(0).edges).toBe(2);
    s.succeeded(t, 1);
    expect(s.hostLoad(0).edges).toBe(1);
    s.failed(t, 2);
    expect(s.hostLoad(0).edges).toBe(0);
    // A peer the scheduler sends to source after its retries leaves the parents it had.
    await s.register(t, 3, new Set([1, 2]));
    expect(s.hostLoad(0).edges).toBe(1);
    const pending = s.schedule(t, 3, new Set([0, 1, 2]));
    for (let i = 0; i < 4; i++) await clock.advance(500);
    expect(await pending).toEqual({ backToSource: true });
    expect(s.hostLoad(0).edges).toBe(0);
  });

  it('retries every retryInterval and goes back to source after retryBackToSourceLimit tries without a parent', async () => {
    const clock = new ManualClock();
    const s = new PieceScheduler(opts, clock);
    const t = s.task('sha256:c');
    await s.register(t, 0, new Set());
    // The only peer is blocklisted: no candidate.
    const pending = s.register(t, 1, new Set([0]));
    let settled = false;
    void pending.then(() => (settled = true));
    for (let i = 0; i < 3; i++) await clock.advance(500);
    expect(settled).toBe(false);
    await clock.advance(500);
    expect(await pending).toEqual({ backToSource: true });
    expect(s.backToSourcePeers).toBe(2);
  });

  it('never sends more than backToSourceCount peers of a blob to the source', async () => {
    const clock = new ManualClock();
    const s = new PieceScheduler({ ...opts, backToSourceCount: 1, retryBackToSourceLimit: 1 }, clock);
    const t = s.task('sha256:d');
    await s.register(t, 0, new Set());
    const pending = s.register(t, 1, new Set([0]));
    let settled = false;
    void pending.then(() => (settled = true));
    for (let i = 0; i < 5; i++) await clock.advance(500);
    // Still waiting for a parent: the one back-to-source slot is taken.
    expect(settled).toBe(false);
    expect(s.backToSourcePeers).toBe(1);
  });
  it('never gives a peer one of its own descendants as a parent, and sends it to source when only those are left', async () => {
    const clock = new ManualClock();
    const s = new PieceScheduler(opts, clock);
    const t = s.task('sha256:e');
    await s.register(t, 0, new Set());
    expect(await s.register(t, 1, new Set())).toEqual({ backToSource: false, parents: [0] });
    expect(await s.register(t, 2, new Set())).toMatchObject({ backToSource: false });
    // The back-to-source peer dies: node 1 is rescheduled. Node 2 downloads from node 1 (1 -> 2), so 2 -> 1 would be a
    // cycle in which both wait for pieces neither has; with node 0 gone no parent is left and node 1 goes to source.
    s.leave(0);
    const pending = s.schedule(t, 1, new Set());
    for (let i = 0; i < 4; i++) await clock.advance(500);
    expect(await pending).toEqual({ backToSource: true });
  });

  it('keeps a peer that left failed even if its download later completes', async () => {
    const s = new PieceScheduler(opts, new ManualClock());
    const t = s.task('sha256:f');
    await s.register(t, 0, new Set());
    s.leave(0);
    s.succeeded(t, 0);
    expect(t.peers.get(0)!.state).toBe('failed');
  });
});
