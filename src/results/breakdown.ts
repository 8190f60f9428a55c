/**
 * The per-pool and per-registry figures of every arm (`aggregate.byPool`, `aggregate.byRegistry`) as rows
 * of cells, one source for the summary `pullbench run` prints, the HTML report and JUnit.
 */
import { formatBytes, formatMs } from '../util/units.js';
import { failedText } from './format.js';
import type { ArmResult, PoolAggregate, RegistryAggregate, RunResults } from './model.js';

/** A number (for sorting, properties) and its text. */
export type Cell = [value: number | undefined, text: string];

export interface PoolRow {
  arm: string;
  pool: string;
  figures: PoolAggregate;
  /** Pods of this pool that did not start as their rollout expects (rollouts[].expect: failure). */
  expectedFailures: number;
}

export interface RegistryRow {
  arm: string;
  registry: string;
  figures: RegistryAggregate;
}

export const POOL_HEAD = ['nodes', 'pods', 'pull p50', 'p95', 'failed', 'registry', 'mirror'] as const;
/** JUnit property names of POOL_HEAD's columns (numbers in ms and bytes). */
export const POOL_PROPERTIES = ['nodes', 'pods', 'pullP50Ms', 'pullP95Ms', 'failed', 'linkBytesRegistry', 'linkBytesMirror'] as const;
export const POOL_NOTE =
  "by pool: pods and pull times pool all repetitions, as the arm's do; registry, mirror: bytes the pool's nodes' links carried from the registries and from the mirrors, per repetition, means (0 B where pullbench shapes no link: a real cluster)";
export const REGISTRY_HEAD = ['served', 'mirror', 'pulls', '429s', 'hit'] as const;
export const REGISTRY_PROPERTIES = ['bytesServed', 'mirrorBytesServed', 'upstreamPulls', 'tooManyRequests', 'mirrorHitRatio'] as const;
export const REGISTRY_NOTE =
  "by registry: bytes each registry and its mirror served, pulls (manifest GETs at the registry) and 429s, per repetition, means; hit: its mirror's blob hit ratio";

const expectedFailures = (arm: ArmResult, pool: string): number =>
  arm.repetitions.reduce((n, r) => n + r.pods.filter((p) => p.pool === pool && p.outcome !== 'ready' && p.expectFailure).length, 0);

/** Every arm's pools, in the arms' order and each arm's pool order; empty when the run had no `cluster.pools`. */
export function poolRows(results: RunResults): PoolRow[] {
  return results.arms.flatMap((arm) =>
    Object.entries(arm.aggregate.byPool ?? {}).map(([pool, figures]) => ({ arm: arm.arm.name, pool, figures, expectedFailures: expectedFailures(arm, pool) })),
  );
}

/** Every arm's registries; empty when the run had no `registries:`. */
export function registryRows(results: RunResults): RegistryRow[] {
  return results.arms.flatMap((arm) => Object.entries(arm.aggregate.byRegistry ?? {}).map(([registry, figures]) => ({ arm: arm.arm.name, registry, figures })));
}

/** A pool row's cells, in POOL_HEAD's order. */
export function poolCells({ figures: f, expectedFailures: expected }: PoolRow): Cell[] {
  return [
    [f.nodes, String(f.nodes)],
    [f.pods, String(f.pods)],
    [f.pull?.p50, f.pull ? formatMs(f.pull.p50) : '-'],
    [f.pull?.p95, f.pull ? formatMs(f.pull.p95) : '-'],
    [f.failures.total, failedText(f.failures.total, expected)],
    [f.linkBytes.registry, formatBytes(f.linkBytes.registry)],
    [f.linkBytes.mirror, formatBytes(f.linkBytes.mirror)],
  ];
}

/** A registry row's cells, in REGISTRY_HEAD's order. */
export function registryCells({ figures: f }: RegistryRow): Cell[] {
  return [
    [f.bytes.registry, formatBytes(f.bytes.registry)],
    [f.bytes.mirror, formatBytes(f.bytes.mirror)],
    [f.upstreamPulls, String(Math.round(f.upstreamPulls))],
    [f.tooManyRequests, String(Math.round(f.tooManyRequests))],
    [f.mirrorHitRatio, f.mirrorHitRatio === undefined ? '-' : `${(f.mirrorHitRatio * 100).toFixed(0)}%`],
  ];
}
