import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { embeddedRegistry } from '../../src/registry/provider.js';

const dir = mkdtempSync(join(tmpdir(), 'pb-load-int-'));
const childTmp = join(dir, 'tmp');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pullbench run interrupted with Ctrl-C during a storm', { timeout: 120_000 }, () => {
  it('stops the storm, tears everything down and exits 130', async () => {
    // The registry lives in this process, so the test can watch the storm arrive and stop.
    await using registry = await embeddedRegistry.start({ storage: 'memory' });
    const scenario = join(dir, 'storm.yaml');
    writeFileSync(
      scenario,
      `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: storm-int }
registry: { provider: external, url: "${registry.url}" }
links: { registry: { bandwidth: 1Mbit, latency: 50ms } }
images:
  - { ref: demo/app:v1, synth: { layers: [4MB] } }
cluster: { nodes: 2 }
rollouts:
  - { name: app, deployment: { image: demo/app:v1, replicas: 2 } }
load:
  - { profile: manifest-head, connections: 4, rate: 200, startBefore: 0s }
`,
    );
    mkdirSync(childTmp);
    const child = spawn('./bin/dev.js', ['run', scenario, '-o', join(dir, 'out')], { env: { ...process.env, TMPDIR: childTmp, CI: '1' }, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      for (let i = 0; i < 600 && registry.stats().manifestHead < 100; i++) await sleep(100);
      expect(registry.stats().manifestHead).toBeGreaterThanOrEqual(100);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    child.kill('SIGINT');
    const t0 = Date.now();
    expect(await exited).toBe(130);
    expect(Date.now() - t0).toBeLessThan(15_000);
    const after = registry.stats().manifestHead;
    await sleep(500);
    expect(registry.stats().manifestHead).toBe(after);
    expect(readdirSync(childTmp).filter((d) => !d.startsWith('tsx-'))).toEqual([]);
  });
});
