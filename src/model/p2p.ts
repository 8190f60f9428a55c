import type { P2pStats } from '../node/p2p/options.js';
import type { PeerFlows } from './peer-flows.js';
import type { ModelRequest } from './servers.js';

/** A node's P2P agent's own way to the registry: over the node's link, on the agent's connections. */
export type SourceWay = (req: ModelRequest) => Promise<void>;

/**
 * The nodes' P2P agents in the flow model (topology p2p): each node's first host, as the emulated driver's hosts.toml
 * lists its agent. ModelSpegel (whole-blob) and ModelDragonfly (pieces).
 */
export interface ModelP2p {
  /** The agent has the resolve capability too (tags), not only pull. */
  readonly resolves: boolean;
  readonly flows: PeerFlows;
  /** Node `node`'s runtime asks its agent; resolves when the answer is whole, throws the status the runtime falls through on. */
  request(node: number, req: ModelRequest, source: SourceWay): Promise<void>;
  /** Node `node`'s store committed `digest`. */
  committed(node: number, digest: string): void;
  /** Node `node`'s runtime created image `repo:tag`. */
  imageCreated(node: number, repo: string, tag: string): void;
  stats(): P2pStats;
}
