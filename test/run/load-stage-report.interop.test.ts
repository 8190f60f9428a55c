import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { renderHtmlReport } from '../../src/report/html/index.js';
import type { RunResults } from '../../src/results/index.js';
import { runScenario } from '../../src/run/run.js';
import { parseScenario } from '../../src/scenario/load.js';
import { findTool } from '../../src/util/tools.js';
import { describeWithTools } from '../helpers/interop.js';

describeWithTools(['chromium'], 'the load stage in the HTML report, in headless Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pb-load-report-'));
  let browser: Browser;
  let results: RunResults;
  let file: string;

  beforeAll(async () => {
    const yaml = `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: storm-report }
mirror: { provider: embedded }
images:
  - { ref: demo/app:v1, synth: { layers: [1MB] } }
cluster: { nodes: 2 }
rollouts:
  - { name: app, deployment: { image: demo/app:v1, replicas: 2 } }
matrix: { topology: [direct, mirror] }
load:
  - { name: heads, profile: manifest-head, connections: 2, rate: 50 }
  - { name: cache, profile: manifest-get, target: mirror, connections: 2, rate: 50 }
`;
    results = (await runScenario(parseScenario(yaml, 'storm-report.yaml'), { writeOutputs: false })).results;
    file = join(dir, 'report.html');
    writeFileSync(file, await renderHtmlReport(results));
    browser = await chromium.launch({ executablePath: findTool('chromium')!, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows one storm row per arm and storm, matching the results, sortable, without console errors', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
    const errors: string[] = [];
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(file).href);
    const rows = await page.$$eval('#load-table tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    const expected = results.arms.flatMap((a) => a.aggregate.load!.map((s) => [a.arm.name, s.storm, s.target, String(Math.round(s.requests))]));
    expect(expected.map((r) => r.slice(0, 3))).toEqual([
      ['IfNotPresent/direct/cold', 'heads', 'registry'],
      ['IfNotPresent/mirror/cold', 'heads', 'registry'],
      ['IfNotPresent/mirror/cold', 'cache', 'mirror'],
    ]);
    expect(rows.map((r) => [r[0], r[1], r[3], r[5]])).toEqual(expected);
    // Sorting by requests (column 6) orders the rows by their numbers, not their text.
    await page.click('#load-table th:nth-child(6)');
    const sorted = await page.$$eval('#load-table tbody tr td:nth-child(6)', (tds) => tds.map((td) => Number(td.textContent)));
    const ascending = [...sorted].sort((a, b) => a - b);
    expect([ascending, [...ascending].reverse()]).toContainEqual(sorted);
    // The chart: per arm with storms, the rollout's requests beside each storm's.
    const chart = await page.evaluate(() => {
      const c = (globalThis as unknown as { pullbenchCharts: Record<string, { data: { labels: string[]; datasets: { label: string; data: number[] }[] }; canvas: { width: number } }> }).pullbenchCharts['chart-load']!;
      return { labels: c.data.labels, series: c.data.datasets.map((d) => [d.label, d.data.length]), width: c.canvas.width };
    });
    expect(chart.labels).toEqual(results.arms.map((a) => a.arm.name));
    expect(chart.series).toEqual([['rollout', 2], ['storm heads (demo/app:v1)', 2], ['storm cache (demo/app:v1)', 2]]);
    expect(chart.width).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    await page.close();
  });
});
