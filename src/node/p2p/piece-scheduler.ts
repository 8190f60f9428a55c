import type { Clock } from '../../core/clock.js';
import type { PieceOptions } from './options.js';

/** Dragonfly client's piece bounds (dragonfly-client-config/src/lib.rs: MIN_PIECE_LENGTH 4 MiB; dragonfly-client/src/resource/piece.rs: MAX_PIECE_LENGTH 64 MiB). */
const MIN_PIECE_LENGTH = 4 * 1024 * 1024;
const MAX_PIECE_LENGTH = 64 * 1024 * 1024;
/** piece.rs: calculate_piece_length's MAX_PIECE_COUNT. */
const MAX_PIECE_COUNT = 500;

/**
 * Dragonfly's default piece length for a blob (dragonflyoss/client, dragonfly-client/src/resource/piece.rs:
 * calculate_piece_length, OptimizeByFileLength): size / 500 rounded up to a power of two, within 4 MiB and 64 MiB.
 * `scale` shrinks the bounds with a scaled run's bytes, so a scaled blob keeps its piece count.
 */
export function pieceLengthFor(size: number, scale = 1): number {
  const raw = size / MAX_PIECE_COUNT;
  const pow = raw <= 1 ? 1 : 2 ** Math.ceil(Math.log2(raw));
  const min = Math.max(1024, Math.round(MIN_PIECE_LENGTH * scale));
  const max = Math.max(min, Math.round(MAX_PIECE_LENGTH * scale));
  return pow > min ? Math.min(pow, max) : min;
}

type PeerState = 'running' | 'back-to-source' | 'succeeded' | 'failed';

interface Peer {
  node: number;
  state: PeerState;
  /** Parents it was given (its in-edges in the task's DAG). */
  parents: Set<number>;
  /** The task's size as its in-edges counted it in their hosts' bytes (0: unknown then). */
  edgeBytes: number;
  have: Uint8Array;
  finished: number;
}

export interface Task {
  digest: string;
  size: number | undefined;
  pieceLength: number;
  pieceCount: number;
  /** Piece digests as the back-to-source peers recorded them (the piece metadata a child checks). */
  pieceDigests: (string | undefined)[];
  peers: Map<number, Peer>;
  /** The task's nodes in the order they first registered (for a random sample without copying the map). */
  order: number[];
  /** How many peers have each node as a parent (its out-edges in the DAG): a node with none is nobody's ancestor. */
  children: Map<number, number>;
  backToSource: number;
  /** Who waits for the task's next change, in the order they began to wait (so by deadline: every wait is as long). */
  waiters: Waiter[];
  /** The one timer that ends the waits that saw no change, armed for the oldest (undefined: none). */
  waitTimer: unknown;
}

interface Waiter {
  resolve: () => void;
  deadline: number;
  /** Woken only by changes of these peers (and of the whole task); undefined: by any change. */
  nodes: readonly number[] | undefined;
}

export type Decision = { backToSource: true } | { backToSource: false; parents: number[] };

/** What the scheduler counts of a host's uploads: its out-edges in every task's DAG, and those tasks' bytes. */
interface HostLoad {
  edges: number;
  bytes: number;
}

/**
 * The scheduler every node's dfdaemon announces to (dragonflyoss/dragonfly at 66db456, scheduler/), per blob (task):
 * - The first peer of a task, pending, goes back to source (service/service_v2.go: handleRegisterPeerRequest; no
 *   seed peers here).
 * - Any other is given up to candidateParentLimit (3) parents among filterParentLimit (15) random peers of the task,
 *   not itself, not blocklisted, and for normal hosts only ones downloading from parents, back-to-source or
 *   succeeded (scheduling/scheduling.go: filterCandidateParents), best first: the least loaded host (evaluator/
 *   evaluator_default.go: evaluateParents, load quality 0.6 of the score; every term falls with the host's
 *   out-edges over all its tasks, which resource/standard/task.go: AddPeerEdges adds to the host's TxBandwidth,
 *   ConcurrentUploadPieceCount and UploadContentLength; here edges, then bytes; ties in the random sample's order).
 *   A peer that succeeds, fails or leaves loses its in-edges (resource/standard/peer.go: the FSM's
 *   PeerEventDownloadSucceeded, ...Failed, ...Leave call DeletePeerInEdges), so its parents' hosts count it no
 *   more. A candidate that would close a cycle is skipped
 *   (filterCandidateParents: task.CanAddPeerEdge), so the task's peers form a DAG whose every path ends at a peer
 *   that has the pieces or goes to source: two children never wait on each other for pieces neither has.
 * - None found: it waits retryInterval (500 ms) and tries again; after retryBackToSourceLimit (4) tries it goes back
 *   to source, if fewer than backToSourceCount (200) peers of the task have (ScheduleCandidateParents,
 *   task.CanBackToSource).
 */
export class PieceScheduler {
  private readonly tasks = new Map<string, Task>();
  private readonly hosts = new Map<number, HostLoad>();
  backToSourcePeers = 0;

  constructor(
    private readonly opts: PieceOptions,
    private readonly clock: Clock,
    private readonly random: () => number = Math.random,
  ) {}

  task(digest: string): Task {
    let t = this.tasks.get(digest);
    if (!t) {
      t = { digest, size: undefined, pieceLength: 0, pieceCount: 0, pieceDigests: [], peers: new Map(), order: [], children: new Map(), backToSource: 0, waiters: [], waitTimer: undefined };
      this.tasks.set(digest, t);
    }
    return t;
  }

  /** The back-to-source peer learnt the blob's size: the task's pieces are fixed from now on. */
  setSize(t: Task, size: number): void {
    if (t.size !== undefined) return;
    t.size = size;
    t.pieceLength = this.opts.pieceLength ?? pieceLengthFor(size, this.opts.pieceLengthScale);
    t.pieceCount = Math.max(1, Math.ceil(size / t.pieceLength));
    for (const p of t.peers.values()) p.have = new Uint8Array(t.pieceCount);
    this.notify(t);
  }

  async register(t: Task, node: number, blocklist: Set<number>): Promise<Decision> {
    const pending = [...t.peers.values()].every((p) => p.state === 'failed');
    if (!t.peers.has(node)) t.order.push(node);
    t.peers.set(node, { node, state: 'running', parents: new Set(), edgeBytes: 0, have: new Uint8Array(t.pieceCount), finished: 0 });
    if (pending && t.backToSource < this.opts.backToSourceCount) return this.toSource(t, node);
    return this.schedule(t, node, blocklist);
  }

  async schedule(t: Task, node: number, blocklist: Set<number>): Promise<Decision> {
    const peer = t.peers.get(node)!;
    this.deleteInEdges(t, peer);
    for (let n = 0; ; n++) {
      if (n >= this.opts.retryBackToSourceLimit && t.backToSource < this.opts.backToSourceCount) return this.toSource(t, node);
      const parents = this.candidates(t, node, blocklist);
      if (parents.length > 0) {
        peer.edgeBytes = t.size ?? 0;
        for (const p of parents) {
          peer.parents.add(p.node);
          t.children.set(p.node, (t.children.get(p.node) ?? 0) + 1);
          const host = this.host(p.node);
          host.edges++;
          host.bytes += peer.edgeBytes;
        }
        return { backToSource: false, parents: parents.map((p) => p.node) };
      }
      await new Promise<void>((resolve) => this.clock.setTimer(resolve, this.opts.retryIntervalMs));
    }
  }

  private toSource(t: Task, node: number): Decision {
    t.backToSource++;
    this.backToSourcePeers++;
    const peer = t.peers.get(node)!;
    peer.state = 'back-to-source';
    this.deleteInEdges(t, peer);
    return { backToSource: true };
  }

  private host(node: number): HostLoad {
    let h = this.hosts.get(node);
    if (!h) {
      h = { edges: 0, bytes: 0 };
      this.hosts.set(node, h);
    }
    return h;
  }

  /** A parent host's out-edges over all tasks (what the evaluator's load quality falls with). */
  hostLoad(node: number): Readonly<HostLoad> {
    return this.host(node);
  }

  // Task.DeletePeerInEdges: the peer's parents' hosts stop counting it.
  private deleteInEdges(t: Task, peer: Peer): void {
    for (const p of peer.parents) {
      t.children.set(p, t.children.get(p)! - 1);
      const host = this.host(p);
      host.edges--;
      host.bytes -= peer.edgeBytes;
    }
    peer.parents.clear();
  }

  private candidates(t: Task, node: number, blocklist: Set<number>): Peer[] {
    return this.sample(t, this.opts.filterParentLimit)
      .filter((p) => p.node !== node && !blocklist.has(p.node) && p.state !== 'failed' && (p.parents.size > 0 || p.state === 'back-to-source' || p.state === 'succeeded'))
      .filter((p) => !this.descendsFrom(t, p.node, node))
      .sort((a, b) => this.host(a.node).edges - this.host(b.node).edges || this.host(a.node).bytes - this.host(b.node).bytes)
      .slice(0, this.opts.candidateParentLimit);
  }

  // Up to `k` of the task's peers at random, in random order (Task.LoadRandomPeers): every ordered k-subset alike, as a
  // shuffle of them all cut to k would give, without the O(peers) shuffle on each scheduling of a large task.
  private sample(t: Task, k: number): Peer[] {
    const n = t.order.length;
    const picked: number[] = [];
    if (n <= k) {
      picked.push(...t.order);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [picked[i], picked[j]] = [picked[j]!, picked[i]!];
      }
    } else {
      const seen = new Set<number>();
      while (picked.length < k) {
        const i = Math.floor(this.random() * n);
        if (seen.has(i)) continue;
        seen.add(i);
        picked.push(t.order[i]!);
      }
    }
    return picked.map((id) => t.peers.get(id)!);
  }

  // Whether `node` is an ancestor of `peer` in the task's DAG: the edge node -> ... -> peer exists, so peer -> node
  // would close a cycle (scheduler/resource/standard/task.go: CanAddPeerEdge, a DAG cycle check). A node that is
  // nobody's parent is nobody's ancestor: no walk (a new peer's first scheduling, most of them).
  private descendsFrom(t: Task, peer: number, node: number): boolean {
    if (!t.children.get(node)) return false;
    const seen = new Set<number>();
    const stack = [peer];
    while (stack.length > 0) {
      const p = t.peers.get(stack.pop()!);
      if (!p) continue;
      for (const parent of p.parents) {
        if (parent === node) return true;
        if (!seen.has(parent)) {
          seen.add(parent);
          stack.push(parent);
        }
      }
    }
    return false;
  }

  pieceDone(t: Task, node: number, piece: number, digest: string): void {
    const p = t.peers.get(node);
    if (!p || p.have[piece]) return;
    p.have[piece] = 1;
    p.finished++;
    t.pieceDigests[piece] ??= digest;
    this.notify(t, node);
  }

  has(t: Task, node: number, piece: number): boolean {
    const p = t.peers.get(node);
    return p !== undefined && p.state !== 'failed' && p.have[piece] === 1;
  }

  succeeded(t: Task, node: number): void {
    const p = t.peers.get(node);
    // A peer that left (its dfdaemon died) stays failed: it is no parent to anyone again.
    if (p && p.state !== 'failed') {
      p.state = 'succeeded';
      this.deleteInEdges(t, p);
    }
    this.notify(t, node);
  }

  failed(t: Task, node: number): void {
    const p = t.peers.get(node);
    if (p) {
      p.state = 'failed';
      this.deleteInEdges(t, p);
    }
    this.notify(t, node);
  }

  /** A node's dfdaemon is gone: it is no parent to anyone any more (its peers leave every task). */
  leave(node: number): void {
    for (const t of this.tasks.values()) if (t.peers.has(node)) this.failed(t, node);
  }

  now(): number {
    return this.clock.now();
  }

  /**
   * Resolves at the next change of the task (its size, or a piece or the state of one of `nodes`, default any peer),
   * or after `ms`. Every peer's download and every stream to a runtime waits here: a wait names the peers it depends
   * on (itself, its parents), so a stored piece wakes its peer's children, not every peer of the blob; and one timer
   * per task, not one per wait, keeps a wait to an array push (the emulation's cost, not Dragonfly's).
   */
  changed(t: Task, ms: number, nodes?: readonly number[]): Promise<void> {
    return new Promise((resolve) => {
      t.waiters.push({ resolve, deadline: this.clock.now() + ms, nodes });
      if (t.waitTimer === undefined) this.armWaitTimer(t);
    });
  }

  // Ends the waits whose deadline passed, then waits for the oldest of the others.
  private armWaitTimer(t: Task): void {
    const first = t.waiters[0];
    if (first === undefined) return;
    t.waitTimer = this.clock.setTimer(() => {
      t.waitTimer = undefined;
      const now = this.clock.now();
      let n = 0;
      while (n < t.waiters.length && t.waiters[n]!.deadline <= now) n++;
      for (const w of t.waiters.splice(0, n)) w.resolve();
      this.armWaitTimer(t);
    }, Math.max(0, first.deadline - this.clock.now()));
  }

  /** Wakes whoever waits on `node`'s changes in the task (a piece of its ended, stored or not: its slot is free again). */
  touch(t: Task, node: number): void {
    this.notify(t, node);
  }

  // Wakes the waits on the task that depend on `node` (all of them when undefined: the task itself changed).
  private notify(t: Task, node?: number): void {
    if (t.waiters.length === 0) return;
    const woken: Waiter[] = [];
    const kept: Waiter[] = [];
    for (const w of t.waiters) (node === undefined || w.nodes === undefined || w.nodes.includes(node) ? woken : kept).push(w);
    if (woken.length === 0) return;
    t.waiters = kept;
    if (kept.length === 0 && t.waitTimer !== undefined) {
      this.clock.clearTimer(t.waitTimer);
      t.waitTimer = undefined;
    }
    for (const w of woken) w.resolve();
  }
}
