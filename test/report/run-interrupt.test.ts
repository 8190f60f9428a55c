import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';

// The child gets a TMPDIR of its own, so every temp dir it makes can be watched.
const dir = mkdtempSync(join(tmpdir(), 'pb-run-int-'));
const childTmp = join(dir, 'tmp');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pullbench run interrupted with Ctrl-C', { timeout: 120_000 }, () => {
  it('tears the registry and nodes down and exits 130', async () => {
    const scenario = join(dir, 'slow.yaml');
    writeFileSync(
      scenario,
      `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: slow }
links: { registry: { bandwidth: 1Mbit, latency: 50ms } }
images:
  - { ref: demo/app:v1, synth: { layers: [4MB] } }
cluster: { nodes: 2 }
rollouts:
  - { name: app, deployment: { image: demo/app:v1, replicas: 2 } }
`,
    );
    mkdirSync(childTmp);
    const child = spawn('./bin/dev.js', ['run', scenario, '-o', join(dir, 'out')], { env: { ...process.env, TMPDIR: childTmp, CI: '1' }, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Wait until the registry's storage exists (the run is under way), then interrupt.
    for (let i = 0; i < 600 && !readdirSync(childTmp).some((d) => d.startsWith('pullbench-registry-')); i++) await sleep(100);
    expect(readdirSync(childTmp).some((d) => d.startsWith('pullbench-registry-'))).toBe(true);
    await sleep(1500);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    // tsx keeps its compile cache there too; everything pullbench made is gone.
    expect(readdirSync(childTmp).filter((d) => !d.startsWith('tsx-'))).toEqual([]);
  });
});
