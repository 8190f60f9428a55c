import type { Clock } from '../core/clock.js';
import { PullbenchError } from '../errors.js';
import { emptyFallbacks, type P2pStats, type PeerLinkOptions, type PieceOptions } from '../node/p2p/options.js';
import { ParentSelector, SYNC_HOST_INTERVAL_MS } from '../node/p2p/parent-selector.js';
import { downloadTask } from '../node/p2p/piece-download.js';
import { PieceScheduler, type Task } from '../node/p2p/piece-scheduler.js';
import { PeerFlows } from './peer-flows.js';
import type { ModelP2p, SourceWay } from './p2p.js';
import type { ModelRequest } from './servers.js';

/** Connections a dfdaemon keeps per parent (PeerNetwork's piece downloader pool: 32 per address). */
const IDLE_PER_PARENT = 32;
/** Retries of a transient failure at the source (dragonfly-agent.ts: BACKEND_MAX_RETRIES, the backend's default). */
const BACKEND_MAX_RETRIES = 1;

interface LocalTask {
  have: Uint8Array;
  done: Promise<void>;
  failed: boolean;
}

/**
 * Piece-level P2P (Dragonfly) in the flow model: the live agent's scheduler (PieceScheduler), parent choice
 * (ParentSelector) and download loop (piece-download.ts: downloadTask) themselves, on the virtual clock, with the
 * transfers as flows: a piece from the source is a Range GET over the node's own link to the registry (the agent's
 * own connections, as dfdaemon's backend keeps them), a piece from a parent a request over the peer link (the
 * handshake on a new connection, a round trip) and a flow over the parent's upload and this node's download; the
 * runtime's blob GET to its agent ends when the agent has every piece (the live agent streams them as they come,
 * so the last byte arrives then too). Anything else the runtime asks (manifests, HEADs) the agent passes to the
 * registry over the node's link, as dfdaemon's proxy does.
 * Faults on peers (p2p.faults) are not modelled: the scenario loader refuses them for the model.
 */
export class ModelDragonfly implements ModelP2p {
  readonly resolves = true;
  readonly flows: PeerFlows;
  private readonly scheduler: PieceScheduler;
  private readonly selectors: ParentSelector[];
  private readonly local: Map<string, LocalTask>[];
  private readonly idle: Map<number, number>[];
  private readonly counters = { wanted: 0, fromPeers: 0, sourceBytes: 0, fallbacks: emptyFallbacks() };
  /** Each node's upload over the last full second (what its dfdaemon reports in sync_host), from the first blob asked. */
  private readonly tx: (number | undefined)[];
  private readonly txSampled: number[] = [];
  private sampling = false;

  constructor(
    private readonly clock: Clock,
    nodes: number,
    private readonly opts: PieceOptions,
    private readonly link: PeerLinkOptions,
    random: () => number,
  ) {
    this.flows = new PeerFlows(clock, nodes, link.upload / 1000, link.download / 1000);
    this.scheduler = new PieceScheduler(opts, clock, random);
    this.tx = new Array<number | undefined>(nodes).fill(undefined);
    this.selectors = Array.from({ length: nodes }, () => new ParentSelector(clock, (n) => ({ tx: this.tx[n], max: link.upload }), random));
    this.local = Array.from({ length: nodes }, () => new Map());
    this.idle = Array.from({ length: nodes }, () => new Map());
  }

  committed(): void {
    /* Dragonfly serves what its own storage holds, not the runtime's store */
  }

  imageCreated(): void {
    /* tags are not advertised: dfdaemon passes them to the registry */
  }

  async request(node: number, req: ModelRequest, source: SourceWay): Promise<void> {
    if (req.kind !== 'blobGet') {
      await source(req);
      return;
    }
    this.sampleTx();
    const task = this.scheduler.task(req.reference);
    const tasks = this.local[node]!;
    let lt = tasks.get(req.reference);
    if (lt?.failed) {
      tasks.delete(req.reference);
      lt = undefined;
    }
    if (!lt) lt = this.startDownload(node, task, req, source);
    try {
      await lt.done;
    } catch {
      // The agent answers 502 (before the size) or breaks its stream: either way the runtime tries its next host.
      throw new PullbenchError('REGISTRY_ERROR', `blob ${req.repo}@${req.reference}: HTTP 502 from the node's P2P agent`, { details: { status: 502 } });
    }
  }

  stats(): P2pStats {
    return {
      mode: 'pieces',
      uploadedByNode: [...this.flows.uploaded],
      peerBytes: this.flows.received,
      wanted: this.counters.wanted,
      fromPeers: this.counters.fromPeers,
      sourceBytes: this.counters.sourceBytes,
      backToSourcePeers: this.scheduler.backToSourcePeers,
      fallbacks: { ...this.counters.fallbacks },
      killed: 0,
      corrupting: 0,
    };
  }

  private startDownload(node: number, task: Task, req: ModelRequest, source: SourceWay): LocalTask {
    const entry: LocalTask = { have: new Uint8Array(0), done: Promise.resolve(), failed: false };
    this.local[node]!.set(req.reference, entry);
    entry.done = downloadTask({
      node,
      opts: this.opts,
      scheduler: this.scheduler,
      selector: this.selectors[node]!,
      fallbacks: this.counters.fallbacks,
      task,
      local: entry,
      sourceSize: async () => {
        await fromSource(source, { ...req, kind: 'blobHead', bytes: 0 });
        return req.bytes;
      },
      fetchPiece: (n, parent) => this.fetchPiece(node, entry, task, req, source, n, parent),
      alive: () => undefined,
    });
    entry.done.catch(() => {
      entry.failed = true;
      this.scheduler.touch(task, node);
    });
    return entry;
  }

  private async fetchPiece(node: number, lt: LocalTask, task: Task, req: ModelRequest, source: SourceWay, n: number, parent: number | undefined): Promise<void> {
    const length = Math.min(task.pieceLength, task.size! - n * task.pieceLength);
    if (parent === undefined) {
      await fromSource(source, { ...req, bytes: length });
      this.counters.sourceBytes += length;
    } else {
      await this.fromParent(node, parent, length);
      this.counters.fromPeers++;
    }
    lt.have[n] = 1;
    this.counters.wanted++;
    this.scheduler.pieceDone(task, node, n, `piece ${n}`);
  }

  // A piece request over the peer link; the parent holds the piece (the download loop asks only those that do).
  private async fromParent(node: number, parent: number, bytes: number): Promise<void> {
    const pool = this.idle[node]!;
    const idle = pool.get(parent) ?? 0;
    if (idle > 0) pool.set(parent, idle - 1);
    const latency = this.link.latencyMs;
    try {
      const wait = (idle === 0 ? 3 : 1) * latency;
      if (wait > 0) await this.clock.sleep(wait);
      if (latency > 0) await this.clock.sleep(latency);
      await this.flows.transfer(parent, node, bytes);
    } finally {
      pool.set(parent, Math.min(IDLE_PER_PARENT, (pool.get(parent) ?? 0) + 1));
    }
  }

  // From the first blob asked on, every second: each node's upload in that second (PeerNetwork.sampleTx).
  private sampleTx(): void {
    if (this.sampling) return;
    this.sampling = true;
    const tick = (): void => {
      for (let n = 0; n < this.tx.length; n++) {
        const bytes = this.flows.sent(n);
        this.tx[n] = n in this.txSampled ? ((bytes - this.txSampled[n]!) * 1000) / SYNC_HOST_INTERVAL_MS : undefined;
        this.txSampled[n] = bytes;
      }
      this.clock.setTimer(tick, SYNC_HOST_INTERVAL_MS);
    };
    tick();
  }
}

// The backend's client: a transient failure (no answer, 408, 429, any 5xx) is retried BACKEND_MAX_RETRIES times.
async function fromSource(source: SourceWay, req: ModelRequest): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await source(req);
      return;
    } catch (err) {
      const status = err instanceof PullbenchError ? (err.details.status as number | undefined) : undefined;
      const transient = status === undefined || status === 408 || status === 429 || status >= 500;
      if (attempt >= BACKEND_MAX_RETRIES || !transient) throw err;
    }
  }
}
