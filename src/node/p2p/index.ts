export { PeerNetwork, type P2pNodeSpec, type PeerWay } from './peer-network.js';
export { pieceLengthFor } from './piece-scheduler.js';
export type { P2pFallbacks, P2pMode, P2pOptions, P2pStats, PeerLinkOptions, PieceOptions, WholeBlobOptions, P2pFaultOptions } from './options.js';
