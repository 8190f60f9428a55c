import type { CacheState, P2pMode, PullPolicy, Scenario, Topology } from './schema.js';

/** One combination of the matrix, run `repeat` times. */
export interface Arm {
  /** `pullPolicy/topology/cache`, e.g. `IfNotPresent/mirror/cold`. */
  name: string;
  pullPolicy: PullPolicy;
  topology: Topology;
  cache: CacheState;
  /** Topology p2p: the mode this arm runs (its name says `p2p-whole-blob` or `p2p-pieces`). */
  p2p?: P2pMode;
}

/**
 * The arms of a scenario, in matrix order. `pre-pulled` means the images were
 * put on every node beforehand, so it only exists with a warm cache: a
 * `pre-pulled` x `cold` combination is folded into `pre-pulled/warm`. Topology
 * `p2p` gives an arm per `p2p.mode` (`IfNotPresent/p2p-pieces/cold`).
 */
export function expandArms(scenario: Pick<Scenario, 'matrix'> & Partial<Pick<Scenario, 'p2p'>>): Arm[] {
  const arms: Arm[] = [];
  const seen = new Set<string>();
  for (const pullPolicy of scenario.matrix.pullPolicy) {
    for (const topology of scenario.matrix.topology) {
      for (const requested of scenario.matrix.cache) {
        const cache: CacheState = topology === 'pre-pulled' ? 'warm' : requested;
        // Topology p2p is an arm per mode: p2p-whole-blob, p2p-pieces.
        const modes: (P2pMode | undefined)[] = topology === 'p2p' ? (scenario.p2p?.mode ?? ['whole-blob']) : [undefined];
        for (const mode of modes) {
          const name = `${pullPolicy}/${mode ? `p2p-${mode}` : topology}/${cache}`;
          if (seen.has(name)) continue;
          seen.add(name);
          arms.push({ name, pullPolicy, topology, cache, ...(mode ? { p2p: mode } : {}) });
        }
      }
    }
  }
  return arms;
}

/**
 * Whether a threshold's arm pattern selects an arm. Segments are compared in
 * order, `*` matches any segment, and missing trailing segments match anything:
 * `IfNotPresent/mirror` selects `IfNotPresent/mirror/cold` and `.../warm`.
 */
export function armMatches(pattern: string, armName: string): boolean {
  if (pattern === '*') return true;
  const want = pattern.split('/');
  const have = armName.split('/');
  if (want.length > have.length) return false;
  return want.every((w, i) => w === '*' || w === have[i]);
}
