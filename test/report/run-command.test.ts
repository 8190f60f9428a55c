import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'pb-run-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: cli }
images:
  - { ref: demo/app:v1, synth: { layers: [200kB] } }
cluster: { nodes: 2 }
rollouts:
  - { name: app, deployment: { image: demo/app:v1, replicas: 2 }, timeout: 3s }
`;

async function pullbench(file: string, text: string, extra: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const path = join(dir, file);
  writeFileSync(path, text);
  try {
    const { stdout, stderr } = await exec('./bin/dev.js', ['run', path, '-o', join(dir, file.replace('.yaml', '')), ...extra], { env: { ...process.env, CI: '1' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('pullbench run', { timeout: 120_000 }, () => {
  it('prints the summary, writes results.json, junit.xml and report.html, exits 0', async () => {
    const r = await pullbench('ok.yaml', `${base}outputs: { formats: [json, junit, html] }\n`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('IfNotPresent/direct/cold');
    expect(r.stdout).toContain(join(dir, 'ok', 'report.html'));
    const html = readFileSync(join(dir, 'ok', 'report.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).not.toMatch(/<script[^>]+src=/i);
    const results = JSON.parse(readFileSync(join(dir, 'ok', 'results.json'), 'utf8'));
    expect(results).toMatchObject({ schemaVersion: 1, kind: 'pullbench.results', passed: true });
    expect(results.arms[0].repetitions[0].pods).toHaveLength(2);
    expect(readFileSync(join(dir, 'ok', 'junit.xml'), 'utf8')).toContain('<testcase name="failure rate"');
  });

  it('exits 3 when a threshold fails, with the failing testcase in JUnit and results on stdout with --json', async () => {
    const r = await pullbench('slow.yaml', `${base}thresholds: [{ metric: pull, percentile: 50, max: 1ms }]\noutputs: { formats: [json, junit] }\n`, ['--json']);
    expect(r.code).toBe(3);
    const results = JSON.parse(r.stdout);
    expect(results.thresholds[0]).toMatchObject({ passed: false, metric: 'pull', percentile: 50 });
    expect(readFileSync(join(dir, 'slow', 'junit.xml'), 'utf8')).toMatch(/<failure message="IfNotPresent\/direct\/cold pull p50 .* &gt; 1ms"/);
  });

  it('exits 5 when unexpected pod failures exceed the failure-rate gate', async () => {
    const r = await pullbench('never.yaml', `${base}matrix: { pullPolicy: [Never] }\n`);
    expect(r.code).toBe(5);
    expect(r.stdout).toContain('ErrImageNeverPull x2');
  });

  it('exits 2 with file:line:column for a bad scenario, without a stack trace', async () => {
    const r = await pullbench('bad.yaml', base.replace('nodes: 2', 'nodes: two'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:6:19: cluster\.nodes: expected an integer/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
  });

  it('exits 2 naming registry.provider when kind nodes could not reach the registry', async () => {
    const r = await pullbench('kind.yaml', base.replace('nodes: 2', 'nodes: 2, driver: kind'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/registry\.provider: .*set registry\.provider: container/);
  });

  it('exits 8 when the kubeconfig driver has no kubeconfig to use', async () => {
    const scenario = `${base.replace('nodes: 2', `nodes: 2, driver: kubeconfig, kubeconfig: ${join(dir, 'missing-kubeconfig')}`)}registry: { provider: external, url: "http://127.0.0.1:9" }\n`;
    const r = await pullbench('kubeconfig.yaml', scenario);
    expect(r.code).toBe(8);
    expect(r.stderr).toContain('DRIVER_UNAVAILABLE');
  });

  describe('with --baseline', () => {
    it('fails in seconds with exit 2 when the baseline file is missing, before running anything', async () => {
      const r = await pullbench('nobase.yaml', base, ['--baseline', join(dir, 'nope.json')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('INVALID_ARGUMENT');
      expect(r.stdout).not.toContain('IfNotPresent/direct/cold');
    });

    it('prints the comparison against an earlier run of the same scenario, and exits 0 or 4 by its verdict', async () => {
      const r = await pullbench('again.yaml', base, ['--baseline', join(dir, 'ok', 'results.json')]);
      expect(r.stdout).toMatch(/IfNotPresent\/direct\/cold\s+pull p50/);
      expect(r.code).toBe(/REGRESSED/.test(r.stdout) ? 4 : 0);
    });

    it('exits 6 when the baseline is of another scenario, saying why', async () => {
      const r = await pullbench('other.yaml', base.replace('name: cli', 'name: other'), ['--baseline', join(dir, 'ok', 'results.json')]);
      expect(r.code).toBe(6);
      expect(r.stderr).toContain('NOT_COMPARABLE');
      expect(r.stderr).toContain('different scenarios');
    });
  });
});

describe('pullbench run on a file that is not a scenario', { timeout: 60_000 }, () => {
  it('refuses 5 MB of random bytes in under 10 KB of output, exit 2', async () => {
    const path = join(dir, 'random.yaml');
    writeFileSync(path, randomBytes(5_000_000));
    const r = await exec('./bin/dev.js', ['run', path], { env: { ...process.env, CI: '1' } }).then(
      (x) => ({ code: 0, ...x }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(r.code).toBe(2);
    expect(r.stdout.length + r.stderr.length).toBeLessThan(10_000);
  });
});
