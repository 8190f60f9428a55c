import type { P2pAggregate, RunResults } from '../../results/index.js';
import { formatBytes } from '../../util/units.js';
import type { Cell } from './emulation.js';

/** The p2p arms' columns, in the HTML table and the text summary alike. */
export const P2P_HEAD = ['arm', 'mode', 'back-to-source', 'peer hits', 'upload p50', 'upload max', 'fallbacks', 'back-to-source peers'];

export const P2P_NOTE =
  'back-to-source: registry bytes / bytes the nodes pulled (registry and peers); peer hits: blob requests (whole-blob) or pieces (pieces) that peers served; ' +
  'upload: bytes a node sent its peers, per node; fallbacks: misses (whole-blob: no peer held the blob, the node went to the registry), failed or corrupt peers, broken streams, failed downloads from the registry (pieces), and connections that found an agent killed.';

const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;

/** Every fallback the arm counted, per repetition, as one cell (`12 miss, 3 corrupt`). */
export function fallbackText(f: P2pAggregate['fallbacks']): string {
  const parts = Object.entries(f).filter(([, n]) => n > 0).map(([k, n]) => `${Math.round(n)} ${k}`);
  return parts.length > 0 ? parts.join(', ') : '0';
}

export function p2pCells(p: P2pAggregate): Cell[] {
  const total = Object.values(p.fallbacks).reduce((a, b) => a + b, 0);
  return [
    [undefined, p.mode],
    [p.backToSourceRatio, pct(p.backToSourceRatio)],
    [p.peerHitRatio, pct(p.peerHitRatio)],
    [p.uploadP50, formatBytes(p.uploadP50)],
    [p.uploadMax, formatBytes(p.uploadMax)],
    [total, fallbackText(p.fallbacks)],
    [p.backToSourcePeers, p.mode === 'pieces' ? String(Math.round(p.backToSourcePeers)) : '-'],
  ];
}

/** The text summary's p2p table: one row per p2p arm, nothing without one. */
export function p2pLines(results: Pick<RunResults, 'arms'>): string[] {
  const rows = results.arms.flatMap(({ arm, aggregate }) => (aggregate.p2p ? [[arm.name, ...p2pCells(aggregate.p2p).map(([, t]) => t)]] : []));
  if (rows.length === 0) return [];
  const widths = P2P_HEAD.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 || i === 6 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(P2P_HEAD), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), `(${P2P_NOTE})`];
}
