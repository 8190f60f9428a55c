import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScenario } from '../../src/run/run.js';
import { loadScenario } from '../../src/scenario/load.js';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'pb-compare-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Small on purpose (2 nodes, 4 pods, 1.5 MB image, 2 repetitions): three real runs take ~20 s together.
const scenario = (name: string): string => `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: ${name} }
links:
  registry: { bandwidth: 100Mbit, latency: 5ms }
images:
  - { ref: demo/app:v1, synth: { layers: [1MB, 500kB] } }
cluster: { nodes: 2 }
rollouts:
  - { name: app, deployment: { image: demo/app:v1, replicas: 4 }, timeout: 30s }
matrix: { pullPolicy: [IfNotPresent], topology: [direct], cache: [cold] }
repeat: 2
`;

async function realRun(name: string, file: string, set: string[] = []): Promise<string> {
  const yaml = join(dir, `${name}.yaml`);
  writeFileSync(yaml, scenario(name));
  const { results } = await runScenario(await loadScenario(yaml, { set }), { writeOutputs: false });
  // These cases are about the metric verdicts; the environment verdict (a busy test machine is 'both busy') has its own tests.
  delete results.environment.conditions;
  const out = join(dir, file);
  writeFileSync(out, JSON.stringify(results));
  return out;
}

async function compare(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('./bin/dev.js', ['compare', ...args], { env: { ...process.env, CI: '1' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('pullbench compare on real runs', { timeout: 120_000 }, () => {
  let base: string;
  let slow: string;
  let other: string;
  beforeAll(async () => {
    base = await realRun('gate', 'base.json');
    // The same scenario with the nodes' link to the registry 10x narrower.
    slow = await realRun('gate', 'slow.json', ['links.registry.bandwidth=10Mbit']);
    other = await realRun('other-gate', 'other.json');
  }, 120_000);

  it('judges a run against itself unchanged and exits 0', async () => {
    const r = await compare(base, base, '--json');
    expect(r.code).toBe(0);
    const c = JSON.parse(r.stdout);
    expect(c).toMatchObject({ kind: 'pullbench.comparison', verdict: 'unchanged', reasons: [], specChanges: [] });
    expect(c.metrics).toHaveLength(9);
    expect(c.metrics.every((m: { verdict: string }) => m.verdict === 'unchanged')).toBe(true);
  });

  it('flags the run over a 10x slower link as regressed, exits 4, and writes JUnit and Markdown', async () => {
    const junit = join(dir, 'compare.xml');
    const md = join(dir, 'summary.md');
    const r = await compare(base, slow, '--junit', junit, '--markdown', md);
    expect(r.code, r.stdout).toBe(4);
    expect(r.stdout).toMatch(/^REGRESSED: /);
    expect(r.stdout).toMatch(/REGRESSED: IfNotPresent\/direct\/cold pull incl\. waiting p95: \+\d+/);
    expect(r.stdout).toContain('links.registry.bandwidth: 100000000 -> 10000000');
    const xml = readFileSync(junit, 'utf8');
    expect(xml.match(/<testcase /g)).toHaveLength(9);
    expect(xml).toMatch(/<testcase name="IfNotPresent\/direct\/cold rollout duration" [^>]*><failure /);
    // Same bytes and requests over a slower link: those stay unchanged.
    expect(xml).toMatch(/<testcase name="IfNotPresent\/direct\/cold bytes from registry" [^>]*><system-out>unchanged/);
    expect(readFileSync(md, 'utf8')).toMatch(/^## pullbench compare: gate — 🔴 regressed/);
  });

  it('refuses runs of different scenarios as not comparable (exit 6), saying why', async () => {
    const r = await compare(base, other, '--json');
    expect(r.code).toBe(6);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'NOT_COMPARABLE', details: { reasons: ['different scenarios: "gate" vs "other-gate"'] } });
  });
});
