import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { RunResults } from '../../src/results/index.js';
import { describeIf } from '../helpers/interop.js';
import { checkRegistryOutage } from './outage-checks.js';

// Issue 22's acceptance at full scale (20 nodes, a 60 s outage) on the results of the command users run:
//   ./bin/run.js run scenarios/registry-outage.yaml   (about 5 min; writes reports/registry-outage/results.json)
//   PULLBENCH_OUTAGE_RESULTS=reports/registry-outage/results.json npx vitest run test/scenarios/registry-outage.acceptance.test.ts
// Too long for every test run: the scaled run in registry-outage.test.ts checks the same on each one.
const file = process.env.PULLBENCH_OUTAGE_RESULTS;

describeIf(file !== undefined, 'set PULLBENCH_OUTAGE_RESULTS to the results.json of a full-scale run of scenarios/registry-outage.yaml', 'scenarios/registry-outage.yaml at full scale (acceptance of issue 22)', () => {
  it('every pod recovers inside the bounds kubelet\'s back-off gives it, and the counters match the attempts', () => {
    const results = JSON.parse(readFileSync(file!, 'utf8')) as RunResults;
    const spec = results.scenario.spec as { cluster?: { nodes?: number }; faults?: Array<{ for?: string }> };
    expect(spec.cluster?.nodes).toBe(20);
    expect(results.arms.find((a) => a.arm.topology === 'direct')!.repetitions[0]!.pods.filter((p) => p.rollout === 'api-v2')).toHaveLength(20);
    const { direct } = checkRegistryOutage(results, 60_000);
    // The update's first wave (maxSurge 25% + maxUnavailable 25% of 20) meets the outage; the rest come after it.
    expect(direct.hit).toBeGreaterThanOrEqual(9);
    console.error(JSON.stringify(direct));
  });
}, false);
