import { PullbenchError } from '../errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import { DeliveryHeap, type Delivery } from './delivery-heap.js';

/**
 * The shaping engine. Every link direction is a serialising server: a chunk of
 * B bytes occupies it for B/rate, and reaches the far end `latency` (+ jitter)
 * after its last byte left, in order. A SharedUplink is a second server the
 * downstream direction of its links also passes through; it serves its busy
 * links round robin, a quantum at a time, so active links share it equally and
 * a link limited by its own rate leaves the rest to the others.
 *
 * One timer per scheduler (per clock) drives every link and flow, set to the
 * earliest moment anything can move; chunks are Buffer slices, never copied.
 *
 * Kept as one file over ~450 lines: it is one algorithm. The links, uplinks and
 * flows are the scheduler's state, and the scheduler is their only mover; each
 * calls the other, so apart they would import each other (the pending-delivery
 * heap, which needs neither, is delivery-heap.ts).
 */

export interface FaultSpec {
  /** Probability that a connection is reset (RST) part-way through its response. */
  resetRate?: number;
  /** The reset happens after a uniform random number of downstream bytes below this (default 256 KiB). */
  resetWithinBytes?: number;
  /** Probability that a connection's downstream stalls once, part-way through. */
  stallRate?: number;
  /** How long a stall lasts (default 2000 ms). */
  stallMs?: number;
  /** Seed for the fault PRNG; the same seed gives the same faults for the same connection order. */
  seed?: number;
}

export interface LinkSpec {
  /** Bits per second, each direction (full duplex). */
  bandwidthBps: number;
  /** One-way delay, each direction. */
  latencyMs: number;
  /** Extra one-way delay, uniform in [0, jitterMs], never reordering data. */
  jitterMs?: number;
  /**
   * Charge each new connection TCP's handshake: its first bytes towards the target
   * leave one round trip late (default true). Loopback connects at once otherwise.
   */
  handshake?: boolean;
  faults?: FaultSpec;
}

export type Direction = 'down' | 'up';

/** Bytes moved in one direction of one connection; the proxy feeds it and receives deliveries. */
export interface FlowSink {
  deliver(chunk: Buffer): void;
  /** All data delivered and the sender finished. */
  end(): void;
  /** False while the receiver is applying backpressure. */
  writable(): boolean;
}

/**
 * Bytes a link direction sends at once before another flow gets a turn: what the link
 * carries in 16 ms, from 16 KiB (links of 8 Mbit/s and slower) to 64 KiB (33 Mbit/s and
 * faster). Every quantum is a delivery, a push and a parse at the receiver, so on fast
 * links bigger quanta cut the CPU per byte (27% of a 500-node rollout's CPU with 64 KiB
 * against 16 KiB), while a quantum holds a link for at most 16 ms on links of 8 Mbit/s and up.
 */
const QUANTUM_MIN = 16 * 1024;
const QUANTUM_MAX = 64 * 1024;
const QUANTUM_MS = 16;

function quantumFor(bytesPerMs: number): number {
  return Math.min(QUANTUM_MAX, Math.max(QUANTUM_MIN, Math.floor(bytesPerMs * QUANTUM_MS)));
}
/** Work that can start within this many ms is started now, to coalesce wakeups. */
const LOOKAHEAD_MS = 4;

function validateSpec(spec: LinkSpec): void {
  const bad: string[] = [];
  if (!(spec.bandwidthBps > 0) || !Number.isFinite(spec.bandwidthBps)) bad.push('bandwidthBps must be a positive number');
  if (!(spec.latencyMs >= 0)) bad.push('latencyMs must be >= 0');
  if (spec.jitterMs !== undefined && !(spec.jitterMs >= 0)) bad.push('jitterMs must be >= 0');
  const f = spec.faults;
  for (const k of ['resetRate', 'stallRate'] as const) {
    const v = f?.[k];
    if (v !== undefined && !(v >= 0 && v <= 1)) bad.push(`faults.${k} must be between 0 and 1`);
  }
  if (bad.length > 0) throw new PullbenchError('INVALID_ARGUMENT', `invalid link: ${bad.join('; ')}`, { details: { problems: bad } });
}

/** One end-to-end serialising resource: a link direction or an uplink. */
class Server {
  busy = 0;
  /** It still had work it could not start last pass, so its busy time is continuous. */
  backlogged = false;
  /** Mutable for an uplink shared across threads, whose share here follows the links active here. */
  constructor(public bytesPerMs: number) {}

  start(now: number): number {
    return this.backlogged ? this.busy : Math.max(this.busy, now);
  }
}

/**
 * One uplink seen from several threads (the emulated nodes' runtimes in worker
 * threads): `counts` holds, per thread (`slot`), how many of its links are sending
 * through the uplink right now.
 */
export interface UplinkShares {
  /** An Int32Array's buffer, one slot per thread. */
  counts: SharedArrayBuffer;
  slot: number;
}

/**
 * The registry's egress, shared fairly by the downstream direction of every link
 * that names it. With `shares`, one uplink spans threads: each thread's copy
 * serves its own links at the part of the bandwidth its share of the busy links
 * earns (its active links / all threads' active links), so every busy link gets
 * about bandwidth / busy links wherever it runs. That is exact while the busy links
 * are all held back by the uplink; a link slower than its fair share leaves its
 * unused part to the links of its own thread only.
 */
export class SharedUplink {
  /** @internal */
  readonly server: Server;
  /** @internal round robin of link directions with data waiting */
  readonly active = new Set<LinkDirection>();
  private readonly counts: Int32Array | undefined;
  private readonly slot: number;
  private published = -1;

  constructor(
    readonly bandwidthBps: number,
    shares?: UplinkShares,
  ) {
    if (!(bandwidthBps > 0)) throw new PullbenchError('INVALID_ARGUMENT', 'uplink bandwidthBps must be a positive number');
    this.server = new Server(bandwidthBps / 8 / 1000);
    if (shares !== undefined) {
      this.counts = new Int32Array(shares.counts);
      if (!(Number.isInteger(shares.slot) && shares.slot >= 0 && shares.slot < this.counts.length)) {
        throw new PullbenchError('INVALID_ARGUMENT', `uplink share slot ${shares.slot} is outside 0-${this.counts.length - 1}`);
      }
    }
    this.slot = shares?.slot ?? 0;
  }

  /** @internal Whether other threads serve links through this uplink too. */
  get spansThreads(): boolean {
    return this.counts !== undefined;
  }

  /** @internal Tells the other threads how many links send here, and takes this thread's part of the bandwidth. */
  rebalance(): void {
    const counts = this.counts;
    if (counts === undefined) return;
    const mine = this.active.size;
    if (mine !== this.published) {
      Atomics.store(counts, this.slot, mine);
      this.published = mine;
    }
    let all = 0;
    for (let i = 0; i < counts.length; i++) all += Atomics.load(counts, i);
    const full = this.bandwidthBps / 8 / 1000;
    this.server.bytesPerMs = all > 0 && mine > 0 ? (full * mine) / Math.max(all, mine) : full;
  }
}

/** @internal */
export class Flow {
  readonly queue: Buffer[] = [];
  queued = 0;
  ended = false;
  finished = false;
  /** Data reaches the sink in order: never before the previous chunk. */
  lastDeliverAt = 0;
  endScheduled = false;
  stalledUntil = 0;
  /** Called once the queue falls to `lowWater` bytes, so the proxy can resume its source. */
  onLow: (() => void) | undefined;
  lowWater = 0;
  constructor(
    readonly dir: LinkDirection,
    readonly sink: FlowSink,
  ) {}
}

/** @internal */
export class LinkDirection {
  readonly server: Server;
  readonly flows = new Set<Flow>();
  readonly quantum: number;
  constructor(
    readonly link: Link,
    readonly uplink: SharedUplink | undefined,
  ) {
    this.server = new Server(link.spec.bandwidthBps / 8 / 1000);
    this.quantum = quantumFor(this.server.bytesPerMs);
  }

  /** The first flow with data it may send now, rotated to the back (round robin). */
  nextFlow(now: number): Flow | undefined {
    for (const flow of [...this.flows]) {
      if (flow.queued > 0 && flow.stalledUntil <= now && flow.sink.writable()) {
        this.flows.delete(flow);
        this.flows.add(flow);
        return flow;
      }
    }
    return undefined;
  }

  /** Whether some flow could send right now (data, not stalled, receiver writable). */
  nextFlowPeek(now: number): boolean {
    for (const flow of this.flows) if (flow.queued > 0 && flow.stalledUntil <= now && flow.sink.writable()) return true;
    return false;
  }

  hasData(): boolean {
    for (const flow of this.flows) if (flow.queued > 0 || (flow.ended && !flow.finished)) return true;
    return false;
  }
}

/**
 * A node's network link to a registry: bandwidth, latency and jitter in each
 * direction; its downstream can also pass through a SharedUplink. Several
 * proxies (one per registry) may share one Link.
 */
export class Link {
  readonly spec: LinkSpec;
  /** @internal */ readonly down: LinkDirection;
  /** @internal */ readonly up: LinkDirection;
  readonly scheduler: Scheduler;

  constructor(spec: LinkSpec, opts: { uplink?: SharedUplink | undefined; clock?: Clock | undefined } = {}) {
    validateSpec(spec);
    this.spec = spec;
    this.scheduler = Scheduler.for(opts.clock ?? systemClock);
    this.down = new LinkDirection(this, opts.uplink);
    this.up = new LinkDirection(this, undefined);
  }

  /** Opens one direction of one connection. */
  openFlow(direction: Direction, sink: FlowSink): ShapedFlow {
    const flow = new Flow(direction === 'down' ? this.down : this.up, sink);
    flow.dir.flows.add(flow);
    return new ShapedFlow(flow, this.scheduler);
  }
}

/** The sending side of one direction of one connection. */
export class ShapedFlow {
  constructor(
    private readonly flow: Flow,
    private readonly scheduler: Scheduler,
  ) {}

  /** Bytes accepted but not yet transmitted; the proxy pauses its source above a threshold. */
  get queuedBytes(): number {
    return this.flow.queued;
  }

  write(chunk: Buffer): void {
    if (this.flow.ended || chunk.length === 0) return;
    this.flow.queue.push(chunk);
    this.flow.queued += chunk.length;
    this.scheduler.track(this.flow.dir);
    this.scheduler.kick();
  }

  /** The sender finished; the sink's end() follows the last delivery. */
  end(): void {
    if (this.flow.ended) return;
    this.flow.ended = true;
    this.scheduler.ending(this.flow);
    this.scheduler.track(this.flow.dir, true);
    this.scheduler.kick();
  }

  /** Holds this flow's transmission until `now + ms` (a stall fault). */
  stall(ms: number): void {
    const until = this.scheduler.clock.now() + ms;
    this.flow.stalledUntil = until;
    this.flow.lastDeliverAt = Math.max(this.flow.lastDeliverAt, until);
    this.scheduler.holdUntil(this.flow, until);
    this.scheduler.track(this.flow.dir, true);
    this.scheduler.kick();
  }

  /** Calls `fn` once, when no more than `lowWater` bytes are left queued. */
  whenBelow(lowWater: number, fn: () => void): void {
    this.flow.lowWater = lowWater;
    this.flow.onLow = fn;
  }

  /** Drops everything queued and detaches (connection reset or closed). */
  abort(): void {
    this.flow.queue.length = 0;
    this.flow.queued = 0;
    this.flow.finished = true;
    this.flow.dir.flows.delete(this.flow);
    this.scheduler.forget(this.flow);
  }

  /** Call when the sink becomes writable again. */
  resume(): void {
    this.scheduler.track(this.flow.dir, true);
    this.scheduler.kick();
  }
}

/** Whether `b` is the bytes right after `a` in the same memory. */
function adjacent(a: Buffer, b: Buffer): boolean {
  return a.buffer === b.buffer && a.byteOffset + a.length === b.byteOffset;
}

/** One per clock: the single timer and pass that move every flow of every link. */
export class Scheduler {
  private static readonly byClock = new WeakMap<Clock, Scheduler>();
  static for(clock: Clock): Scheduler {
    let s = Scheduler.byClock.get(clock);
    if (s === undefined) {
      s = new Scheduler(clock);
      Scheduler.byClock.set(clock, s);
    }
    return s;
  }

  /** Link directions of their own (no uplink) that may have data. */
  private readonly dirs = new Set<LinkDirection>();
  /** Uplinks whose round robin may have links with data. */
  private readonly uplinks = new Set<SharedUplink>();
  /** Thread-spanning uplinks this scheduler has served, until it has published that it uses them no more. */
  private readonly spanning = new Set<SharedUplink>();
  private readonly heap = new DeliveryHeap<Flow>();
  private seq = 0;
  private timer: unknown;
  private timerAt = Infinity;
  private kicked = false;
  /**
   * Whether the next pass must serve the links (something may be able to send now that could
   * not before); else a pass only delivers what is due until `serveAt`, the earliest moment the
   * last serving pass said a link could send. With hundreds of busy links, serving on every
   * event-loop turn was most of the shaper's cost.
   */
  private mustServe = false;
  private serveAt = Infinity;
  /** Flows whose sender finished and whose end is not scheduled yet: a link busy elsewhere must not hold them. */
  private readonly endings = new Set<Flow>();
  private readonly jitterRandom = Math.random;

  private constructor(readonly clock: Clock) {}

  /** Something changed: run a pass soon (coalesced into one per turn). */
  kick(): void {
    if (this.kicked) return;
    this.kicked = true;
    this.arm(this.clock.now());
  }

  /** @internal A flow's sender finished: its end follows its last byte, whether or not its link gets a turn now. */
  ending(flow: Flow): void {
    this.endings.add(flow);
  }

  holdUntil(flow: Flow, until: number): void {
    this.heap.delayFlow(flow, until);
  }

  forget(flow: Flow): void {
    this.heap.removeFlow(flow);
  }

  private arm(at: number): void {
    if (at >= this.timerAt) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.kicked = false;
      this.pass();
    }, at - this.clock.now());
  }

  private pass(): void {
    const now = this.clock.now();
    let wake = now >= this.serveAt || this.mustServe ? this.serve(now) : this.serveAt;
    // Deliver everything due, in time order.
    this.deliverDue(now);
    const next = this.heap.peek();
    if (next !== undefined) wake = Math.min(wake, next.at);
    if (wake < Infinity) this.arm(Math.max(wake, now));
  }

  /** Starts what the links can send before the horizon; returns when serving is next needed. */
  private serve(now: number): number {
    this.mustServe = false;
    const horizon = now + LOOKAHEAD_MS;
    let wake = Infinity;
    const uplinks = new Set<SharedUplink>();

    // Links of their own are visited every serving pass; links through an uplink wait in its
    // round robin (`active`, joined when written to), so a pass visits only the few it can serve.
    for (const dir of this.activeDirections()) wake = Math.min(wake, this.serveAlone(dir, now, horizon));
    for (const uplink of this.uplinks) {
      if (uplink.active.size === 0) {
        this.uplinks.delete(uplink);
        continue;
      }
      uplinks.add(uplink);
      wake = Math.min(wake, this.serveUplink(uplink, now, horizon));
    }
    // A thread-spanning uplink none of whose links here has data: let the other threads have it all.
    for (const uplink of this.spanning) {
      if (uplinks.has(uplink)) continue;
      for (const dir of uplink.active) if (!dir.hasData()) uplink.active.delete(dir);
      uplink.rebalance();
      if (uplink.active.size === 0) this.spanning.delete(uplink);
    }
    for (const uplink of uplinks) if (uplink.spansThreads) this.spanning.add(uplink);
    // A sender that finished with nothing left queued: its end follows its last byte.
    for (const flow of this.endings) {
      if (flow.finished || flow.endScheduled) this.endings.delete(flow);
      else if (flow.queued === 0) {
        flow.endScheduled = true;
        this.schedule(flow, undefined, now, now);
        this.endings.delete(flow);
      }
    }
    // Cross-thread shares move with the other threads' links: look again soon while any is in use.
    if (this.spanning.size > 0) wake = Math.min(wake, now + LOOKAHEAD_MS);
    this.serveAt = wake;
    return wake;
  }

  /**
   * Hands over every delivery due by `now`, each flow's in order. A flow's chunks that are due
   * together and adjacent in one buffer (the quanta of one socket read) go as one: one write or
   * push, one parse, instead of one per quantum.
   */
  private deliverDue(now: number): void {
    let batch: Delivery<Flow>[] | undefined;
    for (let d = this.heap.peek(); d !== undefined && d.at <= now; d = this.heap.peek()) {
      this.heap.pop();
      (batch ??= []).push(d);
    }
    if (batch === undefined) return;
    for (let i = 0; i < batch.length; i++) {
      const d = batch[i] as Delivery<Flow>;
      const flow = d.flow;
      // A stall that began with an earlier delivery of this batch holds the rest of its flow.
      if (flow.stalledUntil > now && !flow.finished) {
        this.heap.push({ ...d, at: Math.max(d.at, flow.stalledUntil) });
        continue;
      }
      if (d.chunk === undefined) {
        if (flow.finished) continue;
        flow.finished = true;
        flow.dir.flows.delete(flow);
        flow.sink.end();
        continue;
      }
      let chunk = d.chunk;
      // Merge the following deliveries of the same flow while they continue this chunk's bytes.
      for (let j = i + 1; j < batch.length; j++) {
        const e = batch[j] as Delivery<Flow>;
        if (e.flow !== flow || e.chunk === undefined || !adjacent(chunk, e.chunk)) break;
        chunk = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length + e.chunk.length);
        i = j;
      }
      if (!flow.finished) flow.sink.deliver(chunk);
    }
  }

  private activeDirections(): LinkDirection[] {
    // Directions are registered lazily: a flow's direction joins when it has data.
    const out: LinkDirection[] = [];
    for (const dir of this.dirs) {
      if (dir.hasData()) out.push(dir);
      else {
        this.dirs.delete(dir);
        dir.server.backlogged = false;
      }
    }
    return out;
  }

  /**
   * Registers a direction as soon as one of its flows is written to. More data for a link booked
   * past the horizon needs a serving pass only when it frees; anything else (`changed`: an end, a
   * stall, a receiver ready again) needs one now.
   */
  track(dir: LinkDirection, changed = false): void {
    if (dir.uplink === undefined) this.dirs.add(dir);
    else {
      dir.uplink.active.add(dir);
      this.uplinks.add(dir.uplink);
    }
    // Busy: its link (or its uplink) is booked past the horizon; serve no later than it frees.
    const until = Math.max(dir.server.busy, dir.uplink?.server.busy ?? 0);
    if (changed || until <= this.clock.now() + LOOKAHEAD_MS) this.mustServe = true;
    else this.serveAt = Math.min(this.serveAt, until - LOOKAHEAD_MS);
  }

  /** Sends from a link direction with no uplink; returns when it next needs a pass. */
  private serveAlone(dir: LinkDirection, now: number, horizon: number): number {
    const s = dir.server;
    for (;;) {
      const start = s.start(now);
      if (start > horizon) {
        s.backlogged = dir.nextFlowPeek(now);
        return s.backlogged ? start - LOOKAHEAD_MS : this.stallWake(dir);
      }
      const flow = dir.nextFlow(now);
      if (flow === undefined) {
        s.backlogged = false;
        return this.stallWake(dir);
      }
      let t = start;
      for (const piece of this.take(flow)) {
        t += piece.length / s.bytesPerMs;
        this.schedule(flow, piece, t, now);
      }
      s.busy = t;
    }
  }

  /** Round robin among an uplink's busy links, one quantum at a time. */
  private serveUplink(uplink: SharedUplink, now: number, horizon: number): number {
    const u = uplink.server;
    uplink.rebalance();
    let wake = Infinity;
    // Rounds: one quantum per ready link per round, served links move to the back (a round visits as many
    // links as there were at its start, so a link moved to the back waits for the next round).
    let progress = true;
    while (progress && u.start(now) <= horizon) {
      progress = false;
      let round = uplink.active.size;
      for (const dir of uplink.active) {
        if (round-- <= 0 || u.start(now) > horizon) break;
        const start = Math.max(u.start(now), dir.server.start(now));
        if (start > horizon) {
          dir.server.backlogged = dir.nextFlowPeek(now);
          if (dir.server.backlogged) wake = Math.min(wake, start - LOOKAHEAD_MS);
          continue;
        }
        const flow = dir.nextFlow(now);
        if (flow === undefined) {
          dir.server.backlogged = false;
          // Stalled, or its receiver not ready: it stays in the round (a resume or the stall's end wakes it).
          if (!dir.hasData()) uplink.active.delete(dir);
          wake = Math.min(wake, this.stallWake(dir));
          continue;
        }
        let tu = start;
        let td = start;
        for (const piece of this.take(flow)) {
          tu += piece.length / u.bytesPerMs;
          td += piece.length / dir.server.bytesPerMs;
          this.schedule(flow, piece, Math.max(tu, td), now);
        }
        u.busy = tu;
        dir.server.busy = td;
        progress = true;
        uplink.active.delete(dir);
        uplink.active.add(dir);
      }
    }
    // Whatever still has data waits for the uplink or its own link, whichever frees later.
    let waiting = false;
    const uplinkStart = u.start(now);
    for (const dir of uplink.active) {
      if (!dir.nextFlowPeek(now)) continue;
      waiting = true;
      dir.server.backlogged = true;
      wake = Math.min(wake, Math.max(uplinkStart, dir.server.start(now)) - LOOKAHEAD_MS);
      // Nothing can start before the uplink frees: wake then (some link may be free by then), without visiting every link.
      if (uplinkStart > horizon) {
        wake = Math.min(wake, uplinkStart - LOOKAHEAD_MS);
        break;
      }
    }
    u.backlogged = waiting && uplinkStart > horizon;
    return wake;
  }

  /** One turn's worth of a flow's queue: a full quantum when it has that much, gathered across its chunks (never copied). */
  private take(flow: Flow): Buffer[] {
    const quantum = flow.dir.quantum;
    const pieces: Buffer[] = [];
    let taken = 0;
    while (taken < quantum && flow.queue.length > 0) {
      const head = flow.queue[0] as Buffer;
      const room = quantum - taken;
      let piece: Buffer;
      if (head.length <= room) {
        flow.queue.shift();
        piece = head;
      } else {
        piece = head.subarray(0, room);
        flow.queue[0] = head.subarray(room);
      }
      pieces.push(piece);
      taken += piece.length;
    }
    flow.queued -= taken;
    if (flow.onLow !== undefined && flow.queued <= flow.lowWater) {
      const fn = flow.onLow;
      flow.onLow = undefined;
      fn();
    }
    return pieces;
  }

  private schedule(flow: Flow, chunk: Buffer | undefined, txEnd: number, now: number): void {
    if (flow.finished) return;
    const spec = flow.dir.link.spec;
    const jitter = spec.jitterMs ? this.jitterRandom() * spec.jitterMs : 0;
    const at = Math.max(flow.lastDeliverAt, txEnd + spec.latencyMs + jitter, now);
    flow.lastDeliverAt = at;
    this.heap.push({ at, seq: this.seq++, flow, chunk });
  }


  private stallWake(dir: LinkDirection): number {
    let wake = Infinity;
    for (const flow of dir.flows) if (flow.queued > 0 && flow.stalledUntil > 0) wake = Math.min(wake, flow.stalledUntil);
    return wake;
  }
}
