import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { compareResults } from '../../src/compare/index.js';
import { isPullbenchError, type PullbenchError } from '../../src/errors.js';
import { aggregateStorms, renderStorms, requestShare } from '../../src/load/stage.js';
import { RegistryClient } from '../../src/oci/client.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { embeddedRegistry } from '../../src/registry/provider.js';
import { renderHtmlReport } from '../../src/report/html/index.js';
import { renderSummary } from '../../src/report/render.js';
import type { RunResults } from '../../src/results/index.js';
import { LoadStage, share } from '../../src/run/load-stage.js';
import { runScenario } from '../../src/run/run.js';
import { parseScenario, type ScenarioProblem } from '../../src/scenario/load.js';

const HEADER = 'apiVersion: pullbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: storm }\n';
const BODY = `images:
  - { ref: demo/app:v1, synth: { layers: [2MB] } }
  - { ref: demo/app:v2, synth: { layers: [8MB] } }
cluster: { nodes: 4 }
rollouts:
  - { name: app, deployment: { image: demo/app:v1, replicas: 8 }, timeout: 60s }
matrix: { pullPolicy: [Always] }
`;

function problemsOf(text: string): ScenarioProblem[] {
  try {
    parseScenario(text, 'storm.yaml');
  } catch (err) {
    if (!isPullbenchError(err) || err.code !== 'SCENARIO_INVALID') throw err;
    return (err as PullbenchError).details.problems as ScenarioProblem[];
  }
  throw new Error('expected the scenario to be rejected');
}

const run = async (yaml: string): Promise<RunResults> => (await runScenario(parseScenario(yaml, 'storm.yaml'), { writeOutputs: false })).results;

describe('the load: section of a scenario', () => {
  it('fills in the defaults: the registry, 10 connections, for the whole rollout, 1 s ahead', () => {
    const { scenario } = parseScenario(`${HEADER}${BODY}load:\n  - profile: manifest-head\n`, 'storm.yaml');
    expect(scenario.load).toEqual([{ profile: 'manifest-head', target: 'registry', connections: 10, duration: 'rollout', startBefore: 1000, timeout: 10_000 }]);
    const timed = parseScenario(`${HEADER}${BODY}load:\n  - { profile: blob-get, duration: 30s, startBefore: 0s, rate: 200 }\n`, 'storm.yaml');
    expect(timed.scenario.load![0]).toMatchObject({ duration: 30_000, startBefore: 0, rate: 200 });
  });

  it('points at the line and column of a bad field', () => {
    const text = `${HEADER}${BODY}load:\n  - profile: blobs\n    duration: forever\n    connections: 0\n`;
    const problems = problemsOf(text);
    expect(problems.map((p) => `${p.path} ${p.line}:${p.column}`).sort()).toEqual(['load[0].connections 14:18', 'load[0].duration 13:15', 'load[0].profile 12:14']);
  });

  it('refuses images, users and a mirror the scenario does not declare, and duplicate names', () => {
    const text = `${HEADER}${BODY}load:\n  - { name: s, profile: manifest-get, images: [demo/nope:v1] }\n  - { name: s, profile: manifest-get, target: mirror, user: bob }\n  - { profile: token }\n  - { profile: manifest-get, mix: { blobGet: 1 } }\n`;
    const paths = problemsOf(text).map((p) => p.path);
    expect(paths).toEqual(['load[3].mix']);
    const fixed = text.replace(', mix: { blobGet: 1 }', '');
    expect(problemsOf(fixed).map((p) => p.path).sort()).toEqual(['load[0].images[0]', 'load[1].name', 'load[1].target', 'load[1].user', 'load[2].profile']);
  });
});

describe('sharing a storm between its images', () => {
  it('splits connections and rate as evenly as whole numbers allow, summing to the total', () => {
    expect([0, 1, 2].map((i) => share(10, 3, i))).toEqual([4, 3, 3]);
    expect([0, 1, 2].map((i) => share(2, 3, i))).toEqual([1, 1, 0]);
  });

  it('sends the rate asked when it is below the number of images: the images beyond it get no storm', { timeout: 60_000 }, async () => {
    await using registry = await embeddedRegistry.start({ storage: 'memory' });
    const client = new RegistryClient({ baseUrl: registry.url });
    const refs = ['demo/a:v1', 'demo/b:v1', 'demo/c:v1'];
    for (const ref of refs) {
      const [repo, tag] = ref.split(':') as [string, string];
      await pushSynthImage(client, repo, tag, { layers: [4096], platforms: [parsePlatform('linux/amd64')], compression: 'gzip', seed: ref });
    }
    await client.close();
    const images = refs.map((ref) => `  - { ref: ${ref}, synth: { layers: [4kB] } }`).join('\n');
    const { scenario } = parseScenario(
      `${HEADER}images:\n${images}\nrollouts: [{ name: app, deployment: { image: demo/a:v1 } }]\nload: [{ profile: manifest-head, rate: 2, startBefore: 0s, images: [${refs.join(', ')}] }]\n`,
      'rate.yaml',
    );
    await using stage = (await LoadStage.prepare(scenario, { registry }))!;
    await stage.start();
    await sleep(1500);
    const runs = await stage.stop();
    expect(runs.map((r) => r.image)).toEqual(['demo/a:v1', 'demo/b:v1']);
    expect(runs.reduce((sum, r) => sum + (r.result.rate ?? 0), 0)).toBe(2);
    // autocannon releases a second's allowance up front: at most rate x (seconds + 1) in all.
    const sent = runs.reduce((sum, r) => sum + r.result.requests.total, 0);
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThanOrEqual(2 * (Math.max(...runs.map((r) => r.result.durationSeconds)) + 1));
  });
});

describe('a rollout under a registry storm', { timeout: 180_000 }, () => {
  let calm: RunResults;
  let stormy: RunResults;

  it('runs without a storm: no load block anywhere', async () => {
    calm = await run(`${HEADER}${BODY}`);
    expect(calm.arms[0]!.aggregate.failures.total).toBe(0);
    expect(calm.arms[0]!.aggregate.load).toBeUndefined();
    expect(calm.arms[0]!.repetitions[0]!.load).toBeUndefined();
    expect(calm.arms[0]!.repetitions[0]!.usage!.loadStorms).toBeUndefined();
    expect(renderSummary(calm)).not.toContain('load stage');
  });

  it('is slower under a blob-get storm, and the registry saw the storm and the rollout both', async () => {
    stormy = await run(`${HEADER}${BODY}load:\n  - { name: blobs, profile: blob-get, connections: 16, images: [demo/app:v2] }\n`);
    const arm = stormy.arms[0]!;
    expect(arm.aggregate.failures.total).toBe(0);
    const rep = arm.repetitions[0]!;
    const storm = rep.load![0]!;
    expect(storm).toMatchObject({ storm: 'blobs', target: 'registry', image: 'demo/app:v2' });
    expect(storm.result.requests.total).toBeGreaterThan(50);
    expect(storm.result.errors).toBe(0);
    // The emulation cost says the storm's generator shared the process: its CPU cannot be told apart.
    expect(rep.usage!.loadStorms).toBe(1);
    expect(arm.aggregate.usage!.loadStorms).toBe(1);
    // generatorCpuMs is the whole process's CPU over the storm, whose window encloses the usage window:
    // subtracting it would leave nothing (hence the flag above, not a subtraction).
    expect(storm.result.generatorCpuMs).toBeGreaterThanOrEqual(rep.usage!.cpu.totalMs - 1);
    // The storm ran from before the rollout to its end.
    expect(Date.parse(storm.result.startedAt)).toBeLessThan(rep.startedAt - 500);
    expect(Date.parse(storm.result.finishedAt)).toBeGreaterThanOrEqual(rep.startedAt + rep.rolloutDurationMs - 50);
    // The rollout's pulls are really affected.
    // (10-25x measured; 2x leaves room for a busy CI machine slowing the calm run too.)
    expect(arm.aggregate.pull!.p50).toBeGreaterThan(2 * calm.arms[0]!.aggregate.pull!.p50);
    // Registry totals = the storm's own count + the rollout's (as many as without a storm),
    // give or take the requests in flight when the storm stopped.
    const rolloutBlobGets = calm.arms[0]!.repetitions[0]!.registry.blobGet;
    const extra = rep.registry.blobGet - storm.result.byKind.blobGet!.requests - rolloutBlobGets;
    expect(extra).toBeGreaterThanOrEqual(0);
    expect(extra).toBeLessThanOrEqual(16);
    expect(rep.registry.manifestGet).toBe(calm.arms[0]!.repetitions[0]!.registry.manifestGet);
    // The same split over every kind, as the summary and the report's chart show it.
    const c = calm.arms[0]!.repetitions[0]!.registry;
    const share = requestShare(arm.repetitions)!;
    expect(share.storms).toBe(storm.result.requests.total);
    expect(share.rollout - (c.manifestHead + c.manifestGet + c.blobGet + c.blobHead + c.token)).toBeGreaterThanOrEqual(0);
    expect(share.rollout - (c.manifestHead + c.manifestGet + c.blobGet + c.blobHead + c.token)).toBeLessThanOrEqual(16);
    expect(requestShare(calm.arms[0]!.repetitions)).toBeUndefined();

    const row = arm.aggregate.load![0]!;
    expect(row).toMatchObject({ storm: 'blobs', profile: 'blob-get', connections: 16, runs: 1, requests: storm.result.requests.total, errors: 0 });
    const summary = renderSummary(stormy);
    expect(summary).toContain('load stage');
    expect(summary).toMatch(/^Always\/direct\/cold\s+\d+\s+\S+\*\s/m);
    expect(summary).toContain('includes the load generator');
    expect(summary).toMatch(/Always\/direct\/cold\s+blobs\s+blob-get\s+registry\s+demo\/app:v2/);
    expect(summary).toContain(`storms ${storm.result.requests.total}, rollout ${Math.round(share.rollout)}`);
  });

  it('shows the storm in the HTML report, and compare takes results with and without one', async () => {
    const html = await renderHtmlReport(stormy, { chartJs: '' });
    expect(html).toContain('id="load-table"');
    expect(html).toContain('<td>blobs</td><td>blob-get</td><td>registry</td><td>demo/app:v2</td>');
    expect(await renderHtmlReport(calm, { chartJs: '' })).not.toContain('id="load-table"');
    expect(() => compareResults(calm, stormy)).not.toThrow();
    expect(() => compareResults(stormy, calm)).not.toThrow();
    expect(compareResults(calm, stormy).specChanges.some((c) => c.startsWith('load'))).toBe(true);
    // A results file from before the load stage (no load fields) still summarises.
    const old = JSON.parse(JSON.stringify(stormy)) as RunResults;
    for (const a of old.arms) {
      delete a.aggregate.load;
      for (const r of a.repetitions) delete r.load;
    }
    expect(renderStorms(old.arms)).toEqual([]);
    expect(aggregateStorms(old.arms[0]!.repetitions)).toEqual([]);
  });
});
