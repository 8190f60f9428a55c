import type { CacheState, PullPolicy, Scenario, Topology } from './schema.js';

/** One combination of the matrix, run `repeat` times. */
export interface Arm {
  /** `pullPolicy/topology/cache`, e.g. `IfNotPresent/mirror/cold`. */
  name: string;
  pullPolicy: PullPolicy;
  topology: Topology;
  cache: CacheState;
}

/**
 * The arms of a scenario, in matrix order. `pre-pulled` means the images were
 * put on every node beforehand, so it only exists with a warm cache: a
 * `pre-pulled` x `cold` combination is folded into `pre-pulled/warm`.
 */
export function expandArms(scenario: Pick<Scenario, 'matrix'>): Arm[] {
  const arms: Arm[] = [];
  const seen = new Set<string>();
  for (const pullPolicy of scenario.matrix.pullPolicy) {
    for (const topology of scenario.matrix.topology) {
      for (const requested of scenario.matrix.cache) {
        const cache: CacheState = topology === 'pre-pulled' ? 'warm' : requested;
        const name = `${pullPolicy}/${topology}/${cache}`;
        if (seen.has(name)) continue;
        seen.add(name);
        arms.push({ name, pullPolicy, topology, cache });
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
