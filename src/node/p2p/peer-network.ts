import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { HttpPool, type HttpTransport } from '../../net/http-pool.js';
import { startShapedProxy } from '../../net/proxy.js';
import { Link } from '../../net/shaper.js';
import { ShapedRoutes } from '../../net/shaped-socket.js';
import { makeTempDir, type TempDir } from '../../util/temp.js';
import { ContentIndex } from './content-index.js';
import { DragonflyAgent } from './dragonfly-agent.js';
import { emptyFallbacks, type P2pOptions, type P2pStats } from './options.js';
import { ParentSelector, SYNC_HOST_INTERVAL_MS } from './parent-selector.js';
import { PieceScheduler } from './piece-scheduler.js';
import { SpegelAgent, type AgentCounters } from './spegel-agent.js';

interface NodeSlot {
  agent: SpegelAgent | DragonflyAgent;
  /**
   * The node's upload: every peer it serves shares this link (its down direction carries the node's uploads). Piece
   * mode: the agent shapes its own writes through it; whole-blob: a shaped proxy in front of the agent.
   */
  upload: { url: string; uploaded(): number; close(): Promise<void> };
  /** The node's download: every connection it opens to a peer crosses this one link. */
  download: ShapedRoutes;
  pools: HttpPool[];
}

export interface P2pNodeSpec {
  /** Where the node's agent reaches the registry in piece mode: the node's own link to it (host:port). */
  registryHost: string;
  /** The node's name (a fault on target peers names the nodes it strikes). */
  name: string;
}

/** Where a node's peers reach its agent, given the agent's host:port and the node's name: a fault front, or the agent. */
export type PeerWay = (agentHost: string, node: string) => Promise<string>;

/**
 * The P2P side of an emulated cluster: one agent per node (SpegelAgent or DragonflyAgent), each behind its node's
 * upload link, reaching its peers over its node's download link, so a node serving ten peers splits its upload
 * between them and a node fetching from three parents splits its download. Both are the shaper's links (src/net):
 * the upload one Link for all its connections (piece mode: the agent's own writes cross it; whole-blob: a shaped
 * proxy in front of the agent), the download a ShapedRoutes
 * route for any peer (one Link, all its connections); a transfer is held to the slower of the two shares.
 */
export class PeerNetwork implements AsyncDisposable {
  private readonly slots: NodeSlot[] = [];
  private readonly counters: AgentCounters & { sourceBytes: number } = { wanted: 0, fromPeers: 0, sourceBytes: 0, fallbacks: emptyFallbacks() };
  readonly index: ContentIndex;
  readonly scheduler: PieceScheduler;
  private faultTimer: unknown;
  /** Each node's upload over the last full second (what its dfdaemon reports in sync_host), sampled from its link. */
  private readonly tx: (number | undefined)[] = [];
  private readonly txSampled: number[] = [];
  private txTimer: unknown;
  private firstRequestAt: number | undefined;
  private killed = 0;
  private corrupting = 0;

  private constructor(
    readonly opts: P2pOptions,
    private readonly clock: Clock,
    private readonly dir: TempDir,
    private readonly peerWay: PeerWay | undefined,
  ) {
    this.index = new ContentIndex(clock, opts.wholeBlob.advertiseDelayMs);
    this.scheduler = new PieceScheduler(opts.pieces, clock);
  }

  static async start(opts: P2pOptions, clock: Clock, peerWay?: PeerWay): Promise<PeerNetwork> {
    return new PeerNetwork(opts, clock, await makeTempDir('pbp2p-'), peerWay);
  }

  /** Starts node `index`'s agent; its URL goes first in the node's hosts.toml. */
  async addNode(spec: P2pNodeSpec): Promise<string> {
    const node = this.slots.length;
    const { link } = this.opts;
    const download = new ShapedRoutes([{ name: 'peers', target: '*', link: { bandwidthBps: link.download * 8, latencyMs: link.latencyMs } }], { clock: this.clock });
    // Connections to each parent stay open between pieces: Dragonfly's piece downloader pools its clients per parent
    // (dragonfly-client src/resource/piece_downloader.rs at ff17c0b: TCPDownloader, up to MAX_CONNECTIONS_PER_ADDRESS 32
    // per address, idle for DEFAULT_DOWNLOADER_IDLE_TIMEOUT 420 s). Go's 2 idle per host made every burst reconnect.
    const peerPool = new HttpPool({ connect: download.connect, maxIdlePerHost: 32, idleTimeoutMs: 420_000 });
    const pools = [peerPool];
    const peerTransport: HttpTransport = peerPool;
    const asked = (): void => {
      this.armFaults();
      this.sampleTx();
    };
    const url = (n: number): string => this.slots[n]!.upload.url;
    let agent: SpegelAgent | DragonflyAgent;
    const uploadSpec = { bandwidthBps: link.upload * 8, latencyMs: 0, handshake: false };
    let uploadLink: { link: Link; sent(bytes: number): void; bytes: number } | undefined;
    if (this.opts.mode === 'whole-blob') {
      agent = new SpegelAgent(node, this.opts.wholeBlob, { index: this.index, url, transport: peerTransport, clock: this.clock, asked }, this.counters);
    } else {
      // The backend's reqwest client keeps up to POOL_MAX_IDLE_PER_HOST (1024) idle connections to the source
      // (dragonfly-client-backend src/lib.rs, src/http.rs: HTTP::new): concurrentPieceCount ranges at once reuse them.
      const source = new HttpPool({ maxIdlePerHost: 1024 });
      pools.push(source);
      const counted = { link: new Link(uploadSpec, { clock: this.clock }), bytes: 0, sent: (bytes: number): void => void (counted.bytes += bytes) };
      uploadLink = counted;
      const dir = join(this.dir.path, `node-${node + 1}`);
      await mkdir(dir);
      agent = new DragonflyAgent(
        node,
        this.opts.pieces,
        {
          scheduler: this.scheduler,
          selector: new ParentSelector(this.clock, (n) => ({ tx: this.tx[n], max: link.upload })),
          url,
          transport: peerTransport,
          source,
          asked,
          sourceHost: spec.registryHost,
          dir,
          upload: uploadLink,
        },
        this.counters,
      );
    }
    await agent.start();
    const target = this.peerWay ? await this.peerWay(agent.server.host, spec.name) : agent.server.host;
    let upload: NodeSlot['upload'];
    if (uploadLink) {
      // The agent's piece uploads cross the link in its own writes: one TCP connection per peer, not two.
      const counted = uploadLink;
      upload = { url: `http://${target}`, uploaded: () => counted.bytes, close: async () => undefined };
    } else {
      const proxy = await startShapedProxy({ target, link: uploadSpec, clock: this.clock });
      upload = { url: proxy.url, uploaded: () => proxy.stats().bytesDown, close: () => proxy.close() };
    }
    this.slots.push({ agent, upload, download, pools });
    return `http://${agent.server.host}`;
  }

  /** Whole-blob: where node `index`'s runtime commits blobs (containerd's content store layout). */
  setContentRoot(node: number, root: string): void {
    const agent = this.slots[node]?.agent;
    if (agent instanceof SpegelAgent) agent.contentRoot = root;
  }

  /** Node `index`'s runtime created an image: Spegel advertises its tag (with resolveTags). */
  imageCreated(node: number, registry: string, name: string, tag: string, manifestDigest: string): void {
    const agent = this.slots[node]?.agent;
    if (agent instanceof SpegelAgent) agent.imageCreated(registry, name, tag, manifestDigest);
  }

  // From the first blob asked on, every second: each node's upload in that second (sysinfo/network.rs: get_stats).
  private sampleTx(): void {
    if (this.txTimer !== undefined) return;
    const tick = (): void => {
      this.slots.forEach((s, n) => {
        const bytes = s.upload.uploaded();
        this.tx[n] = n in this.txSampled ? ((bytes - this.txSampled[n]!) * 1000) / SYNC_HOST_INTERVAL_MS : undefined;
        this.txSampled[n] = bytes;
      });
      this.txTimer = this.clock.setTimer(tick, SYNC_HOST_INTERVAL_MS);
    };
    tick();
  }

  // The first blob any node asks its agent for starts the fault clock (mid-rollout).
  private armFaults(): void {
    const faults = this.opts.faults;
    if (!faults || this.firstRequestAt !== undefined) return;
    this.firstRequestAt = this.clock.now();
    this.faultTimer = this.clock.setTimer(() => this.injectFaults(), faults.afterMs);
  }

  private injectFaults(): void {
    const faults = this.opts.faults!;
    const n = this.slots.length;
    const kill = Math.round(n * faults.kill);
    const corrupt = Math.min(n - kill, Math.round(n * faults.corrupt));
    // Spread over the nodes: every k-th node, so neither all early nor all late pullers.
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => ((a * 7919) % n) - ((b * 7919) % n));
    for (const i of order.slice(0, kill)) this.slots[i]!.agent.kill();
    for (const i of order.slice(kill, kill + corrupt)) this.slots[i]!.agent.corrupt = true;
    this.killed = kill;
    this.corrupting = corrupt;
  }

  stats(): P2pStats {
    const uploadedByNode = this.slots.map((s) => s.upload.uploaded());
    const peerBytes = this.slots.reduce((a, s) => a + (s.download.stats().peers?.bytesDown ?? 0), 0);
    const agentDown = this.slots.reduce((a, s) => a + s.agent.server.refused, 0);
    return {
      mode: this.opts.mode,
      uploadedByNode,
      peerBytes,
      wanted: this.counters.wanted,
      fromPeers: this.counters.fromPeers,
      sourceBytes: this.counters.sourceBytes,
      backToSourcePeers: this.scheduler.backToSourcePeers,
      fallbacks: { ...this.counters.fallbacks, agentDown },
      killed: this.killed,
      corrupting: this.corrupting,
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.faultTimer !== undefined) this.clock.clearTimer(this.faultTimer);
    if (this.txTimer !== undefined) this.clock.clearTimer(this.txTimer);
    for (const s of this.slots.splice(0)) {
      await Promise.all(s.pools.map((p) => p.close().catch(() => undefined)));
      s.download.close();
      await s.upload.close().catch(() => undefined);
      await s.agent.close().catch(() => undefined);
    }
    await this.dir.remove();
  }
}
