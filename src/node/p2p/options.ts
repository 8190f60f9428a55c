/**
 * What a P2P network of emulated nodes is given: plain data (run/ maps the
 * scenario's `p2p` section and `links.peer` onto it; units are the driver's:
 * bytes per second, milliseconds, bytes).
 */
export type P2pMode = 'whole-blob' | 'pieces';

/** Spegel's knobs (whole-blob mode), defaults from its source: see spegel-agent.ts. */
export interface WholeBlobOptions {
  resolveTags: boolean;
  advertiseDelayMs: number;
  lookupCacheTtlMs: number;
  resolveRetries: number;
}

/** Dragonfly's knobs (piece mode), defaults from its source: see piece-scheduler.ts and dragonfly-agent.ts. */
export interface PieceOptions {
  /** Undefined: Dragonfly's default, by blob size (pieceLengthFor). */
  pieceLength?: number;
  /** Scales the default piece length with the scenario's bytes (scale.bytes), so a scaled blob keeps its piece count. */
  pieceLengthScale: number;
  candidateParentLimit: number;
  filterParentLimit: number;
  backToSourceCount: number;
  retryBackToSourceLimit: number;
  retryIntervalMs: number;
  concurrentPieceCount: number;
}

/** Node <-> node capacity: each node's uploads share its upload, its downloads its download. */
export interface PeerLinkOptions {
  /** Bytes per second. */
  upload: number;
  download: number;
  latencyMs: number;
}

export interface P2pFaultOptions {
  /** From the first blob any node asks its agent for. */
  afterMs: number;
  /** Nodes whose agent stops. */
  kill: number;
  /** Nodes whose agent serves corrupt bytes to its peers. */
  corrupt: number;
}

export interface P2pOptions {
  mode: P2pMode;
  wholeBlob: WholeBlobOptions;
  pieces: PieceOptions;
  link: PeerLinkOptions;
  faults?: P2pFaultOptions;
}

/** How each node's requests to its agent ended (the fallbacks are what containerd's hosts.toml falls through). */
export interface P2pFallbacks {
  /** Whole-blob: no peer held the blob (yet): 404, the node went to the next host. */
  miss: number;
  /** A peer failed before answering (killed, refused): the next peer, or the next host, was tried. */
  peerFailed: number;
  /** Bytes that failed their digest check (a peer serving corrupt bytes): refetched (pieces) or the pull retried (whole-blob). */
  corrupt: number;
  /** A peer's stream broke mid-blob: refetched (pieces) or the pull failed and was retried (whole-blob). */
  aborted: number;
  /** Pieces: the agent's download from the registry failed past Dragonfly's retries (its task failed): the node's runtime fell through to the registry. */
  sourceFailed: number;
  /** A node whose own agent was killed: its runtime fell through to the registry (counted by the requests that found it dead). */
  agentDown: number;
}

/** What the P2P network did in a repetition (results.json `p2p`). */
export interface P2pStats {
  mode: P2pMode;
  /** Bytes each node sent to its peers, by node index. */
  uploadedByNode: number[];
  /** Bytes the nodes received from peers. */
  peerBytes: number;
  /** Blob requests (whole-blob) or pieces (pieces) the nodes wanted, and how many peers served. */
  wanted: number;
  fromPeers: number;
  /** Pieces: bytes the agents fetched from the registry themselves (back-to-source). */
  sourceBytes: number;
  /** Pieces: peers the scheduler sent back to the registry, over all blobs. */
  backToSourcePeers: number;
  fallbacks: P2pFallbacks;
  /** Agents the faults stopped, and those that served corrupt bytes. */
  killed: number;
  corrupting: number;
}

export function emptyFallbacks(): P2pFallbacks {
  return { miss: 0, peerFailed: 0, corrupt: 0, aborted: 0, sourceFailed: 0, agentDown: 0 };
}
