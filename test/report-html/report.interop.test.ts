import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compareResults } from '../../src/compare/index.js';
import { renderHtmlReport } from '../../src/report/html/index.js';
import type { RunResults } from '../../src/results/index.js';
import { formatMs } from '../../src/util/units.js';
import { runScenario } from '../../src/run/run.js';
import { loadScenario } from '../../src/scenario/load.js';
import { findTool } from '../../src/util/tools.js';
import { describeWithTools } from '../helpers/interop.js';

const ARTIFACTS = resolve('test-artifacts');

describeWithTools(['chromium'], 'the HTML report of a real run in headless Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pb-report-'));
  let browser: Browser;
  let results: RunResults;
  let file: string;

  beforeAll(async () => {
    // quickstart scaled down: 4 arms, 3 nodes, 4 replicas then the v2 update, 2 repetitions.
    const loaded = await loadScenario('scenarios/quickstart.yaml', { set: ['cluster.nodes=3', 'rollouts[0].deployment.replicas=4', 'repeat=2'] });
    results = (await runScenario(loaded, { writeOutputs: false })).results;
    file = join(dir, 'report.html');
    writeFileSync(file, await renderHtmlReport(results));
    browser = await chromium.launch({
      executablePath: findTool('chromium')!,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('with a baseline, draws the baseline series beside the current ones and shows the verdicts', async () => {
    const withBaseline = join(dir, 'report-baseline.html');
    writeFileSync(withBaseline, await renderHtmlReport(results, { baseline: { results, comparison: compareResults(results, results) } }));
    const page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    await page.goto(pathToFileURL(withBaseline).href);
    const series = await page.evaluate(() => {
      const all = (globalThis as unknown as { pullbenchCharts: Record<string, { data: { labels?: unknown[]; datasets: { label: string }[] } }> }).pullbenchCharts;
      return { cdf: all['chart-cdf']!.data.datasets.map((d) => d.label), boxes: all['chart-box']!.data.labels!.length };
    });
    expect(errors).toEqual([]);
    const pulled = results.arms.filter((a) => a.aggregate.pull).map((a) => a.arm.name);
    expect(series.cdf).toEqual([...pulled, ...pulled.map((n) => `baseline: ${n}`)]);
    expect(series.boxes).toBe(2 * pulled.length);
    expect(await page.textContent('#comparison-table')).toContain('unchanged');
    expect(await page.$$eval('#headline-table th', (ths) => ths.map((th) => th.textContent))).toContain('Δ p50');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'report-baseline.png'), fullPage: true });
    await page.close();
  });

  it('labels the byte chart as scaled in a byte-scaled run\'s report, and not in an unscaled one', async () => {
    const scaledFile = join(dir, 'report-scaled.html');
    writeFileSync(scaledFile, await renderHtmlReport({ ...results, scale: { bytes: 0.25, byteCounts: 'measured' } }));
    const labels = async (url: string): Promise<{ axis: string; title: string; shown: boolean }> => {
      const page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
      await page.goto(url);
      const got = await page.evaluate(() => {
        const c = (globalThis as unknown as { pullbenchCharts: Record<string, { options: { scales: { y: { title: { text: string } } }; plugins: { title: { display: boolean; text: string } } } }> }).pullbenchCharts['chart-bytes']!;
        return { axis: c.options.scales.y.title.text, title: c.options.plugins.title.text, shown: c.options.plugins.title.display };
      });
      await page.close();
      return got;
    };
    expect(await labels(pathToFileURL(scaledFile).href)).toEqual({ axis: 'bytes per repetition (scaled x0.25)', title: 'Bytes as measured at scale.bytes 0.25: x4 for the modelled sizes', shown: true });
    expect(await labels(pathToFileURL(file).href)).toMatchObject({ axis: 'bytes per repetition', shown: false });
  });

  // scenarios/edge-and-core.yaml scaled down (as test/scenarios/pools-and-registries.test.ts runs it): the By pool chart.
  it("draws each pool's pull p50 and p95 per arm in a run with pools, and the pool and registry tables", async () => {
    const loaded = await loadScenario('scenarios/edge-and-core.yaml', {
      env: { ...process.env, PULLBENCH_REGISTRY_PASSWORD: 's3cret-for-tests' },
      set: ['cluster.layerStore=inflate-only', 'cluster.pools[0].nodes=3', 'cluster.pools[1].nodes=2', 'rollouts[1].deployment.replicas=5', 'images[0].synth.layers=[600kB, 200kB]', 'images[1].synth.layers=[300kB]'],
    });
    const pooled = (await runScenario(loaded, { writeOutputs: false })).results;
    const poolsFile = join(dir, 'report-pools.html');
    writeFileSync(poolsFile, await renderHtmlReport(pooled));
    const page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    await page.goto(pathToFileURL(poolsFile).href);
    const chart = await page.evaluate(() => {
      const c = (globalThis as unknown as { pullbenchCharts: Record<string, { data: { labels: string[]; datasets: { label: string; data: (number | null)[] }[] } }> }).pullbenchCharts['chart-pools']!;
      return { labels: c.data.labels, datasets: c.data.datasets.map((d) => ({ label: d.label, data: d.data })) };
    });
    expect(errors).toEqual([]);
    expect(chart.labels).toEqual(pooled.arms.map((a) => a.arm.name));
    const figure = (pool: string, key: 'p50' | 'p95') => pooled.arms.map((a) => a.aggregate.byPool![pool]!.pull![key]);
    expect(chart.datasets).toEqual([
      { label: 'core p50', data: figure('core', 'p50') }, { label: 'edge p50', data: figure('edge', 'p50') },
      { label: 'core p95', data: figure('core', 'p95') }, { label: 'edge p95', data: figure('edge', 'p95') },
    ]);
    expect(await page.$$eval('#pool-table tbody tr', (rows) => rows.length)).toBe(2 * pooled.arms.length);
    expect(await page.$$eval('#registry-table tbody tr', (rows) => rows.length)).toBe(2 * pooled.arms.length);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'report-pools.png'), fullPage: true });
    await page.close();
  }, 180_000);

  for (const scheme of ['light', 'dark'] as const) {
    it(`draws every chart with the right series and points, without console errors (${scheme})`, async () => {
      const page = await browser.newPage({ viewport: { width: 1366, height: 800 }, colorScheme: scheme });
      const errors: string[] = [];
      page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
      page.on('pageerror', (e) => errors.push(e.message));
      // Offline: any request other than the file itself is a failure of self-containment.
      const requests: string[] = [];
      page.on('request', (r) => void (r.url().startsWith('file:') || requests.push(r.url())));
      await page.goto(pathToFileURL(file).href);
      const charts = await page.evaluate(() => {
        const all = (globalThis as unknown as { pullbenchCharts: Record<string, { data: { labels?: unknown[]; datasets: { data: unknown[] }[] }; canvas: { width: number; height: number } }> }).pullbenchCharts;
        return Object.fromEntries(
          Object.entries(all).map(([id, c]) => [id, { labels: c.data.labels?.length ?? 0, series: c.data.datasets.map((d) => d.data.length), width: c.canvas.width, height: c.canvas.height }]),
        );
      });
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      const arms = results.arms.length;
      const pulled = results.arms.filter((a) => a.aggregate.pull);
      expect(charts['chart-box']).toMatchObject({ labels: pulled.length, series: [pulled.length, pulled.length, pulled.length] });
      expect(charts['chart-cdf']!.series).toEqual(pulled.map((a) => a.aggregate.pull!.count));
      expect(charts['chart-bytes']).toMatchObject({ labels: arms, series: [arms, arms, arms] });
      expect(charts['chart-requests']).toMatchObject({ labels: arms, series: [arms, arms, arms] });
      const pods = results.arms[0]!.repetitions[0]!.pods.length;
      expect(charts['chart-waterfall']).toMatchObject({ labels: pods, series: [pods, pods, pods] });
      for (const c of Object.values(charts)) expect(c.width * c.height).toBeGreaterThan(0);

      // The headline table as the reader sees it matches the JSON.
      const rows = await page.$$eval('#headline-table tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
      const ranked = [...results.arms].sort((a, b) => a.aggregate.pull!.p50 - b.aggregate.pull!.p50);
      expect(rows.map((r) => r[0])).toEqual(ranked.map((a) => a.arm.name));
      expect(rows.map((r) => r[2])).toEqual(ranked.map((a) => formatMs(a.aggregate.pull!.p50)));
      expect(rows.map((r) => r[1])).toEqual(ranked.map((a) => String(a.aggregate.pods)));

      // Sorting by a header reorders rows.
      await page.click('#headline-table th:nth-child(9)');
      await page.click('#headline-table th:nth-child(1)');
      const sorted = await page.$$eval('#headline-table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
      expect(sorted).toEqual([...sorted].sort());

      // Choosing another arm redraws the waterfall with that arm's pods.
      await page.selectOption('#waterfall-arm', String(arms - 1));
      const redrawn = await page.evaluate(() => (globalThis as unknown as { pullbenchCharts: Record<string, { data: { labels: unknown[] } }> }).pullbenchCharts['chart-waterfall']!.data.labels.length);
      expect(redrawn).toBe(results.arms[arms - 1]!.repetitions[0]!.pods.length);

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, `report-${scheme}.png`), fullPage: true });
      await page.close();
    });
  }
});
