import type { EnvironmentComparison, MachineLoad, RunResults } from '../results/index.js';

/**
 * Whether two runs ran on machines equally busy, from what each run recorded
 * (src/measure/conditions.ts). A run is "busier" when other processes (and the
 * hypervisor's steal) took at least BUSIER_CORES more of the machine than in the
 * other run, or its own event loop ran late by twice as much and by at least
 * BUSIER_DELAY_MS: either slows every timing a run measures, whatever the code did.
 */
export const BUSIER_CORES = 0.5;
export const BUSIER_DELAY_MS = 20;
/** Both runs busy: other work took at least this share of the machine in each, so neither is a quiet reference. */
export const BUSY_SHARE = 0.5;

/** What one run's conditions say about how busy its machine was; undefined when it recorded none. */
export function machineLoad(results: RunResults): MachineLoad | undefined {
  const env = results.environment;
  const c = env.conditions;
  if (!c) return undefined;
  const load1 = Math.max(c.loadAverage.before[0] ?? 0, c.loadAverage.after[0] ?? 0);
  // Off Linux there is no /proc/stat: the load average less the harness's own core stands in.
  const otherCores = c.cpu ? c.cpu.otherCores : Math.max(0, load1 - 1);
  const stealShare = c.cpu?.stealShare ?? 0;
  return {
    otherCores,
    stealShare,
    cores: env.cpus,
    busyCores: otherCores + stealShare * env.cpus,
    loopDelayP99Ms: c.eventLoopDelay.p99Ms,
    loadAverage: load1,
    source: c.cpu ? '/proc/stat' : 'load average',
  };
}

const describe = (m: MachineLoad): string =>
  `other work ${m.otherCores.toFixed(2)} of ${m.cores} cores${m.stealShare > 0 ? `, steal ${(m.stealShare * 100).toFixed(1)}%` : ''}, event-loop delay p99 ${m.loopDelayP99Ms.toFixed(0)}ms, load ${m.loadAverage.toFixed(2)}`;

/** The environment verdict of a comparison: which side, if either, ran on the busier machine, and why in words. */
export function compareEnvironments(baseline: RunResults, current: RunResults): EnvironmentComparison {
  const b = machineLoad(baseline);
  const c = machineLoad(current);
  if (!b || !c) {
    return { verdict: 'unknown', reason: `the ${!b && !c ? 'runs' : !b ? 'baseline' : 'current run'} recorded no machine conditions (results from an older pullbench)` };
  }
  const text = `baseline: ${describe(b)}; current: ${describe(c)}`;
  const cores = c.busyCores - b.busyCores;
  const delayRatio = (c.loopDelayP99Ms + 1) / (b.loopDelayP99Ms + 1);
  const delayDiff = c.loopDelayP99Ms - b.loopDelayP99Ms;
  const byCores = Math.abs(cores) >= BUSIER_CORES;
  const byDelay = Math.abs(delayDiff) >= BUSIER_DELAY_MS && (delayRatio >= 2 || delayRatio <= 0.5);
  if (!byCores && !byDelay) {
    const busy = b.busyCores >= BUSY_SHARE * b.cores && c.busyCores >= BUSY_SHARE * c.cores;
    return { verdict: busy ? 'both busy' : 'similar', baseline: b, current: c, reason: text };
  }
  // Other processes' CPU is the direct measure; the loop's lateness decides only when it alone moved.
  const currentBusier = byCores ? cores > 0 : delayDiff > 0;
  return { verdict: currentBusier ? 'current busier' : 'baseline busier', baseline: b, current: c, reason: text };
}
