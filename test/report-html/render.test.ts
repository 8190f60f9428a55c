import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compareResults } from '../../src/compare/index.js';
import { headlineOf, headlineText } from '../../src/results/index.js';
import { renderHtmlReport } from '../../src/report/html/index.js';
import type { RunResults } from '../../src/results/index.js';
import { formatMs } from '../../src/util/units.js';

// A real (scaled-down) quickstart run: 4 arms x 2 repetitions on 3 emulated nodes.
const fixture = JSON.parse(readFileSync(new URL('../compare/fixtures/quickstart-small.results.json', import.meta.url), 'utf8')) as RunResults;
const copy = (): RunResults => structuredClone(fixture);
const dataOf = (html: string) => JSON.parse(/<script type="application\/json" id="pb-data">(.*?)<\/script>/s.exec(html)![1]!);

describe('the HTML report', () => {
  it('is self-contained: no external scripts, styles or fetches', async () => {
    const html = await renderHtmlReport(fixture);
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+href=/);
    expect(html).not.toMatch(/(src|href)="https?:/);
    expect(html).toContain('Chart.js v4');
    expect(html).toContain('prefers-color-scheme: dark');
  });

  it('ranks arms by pull p50 in the headline table, with the values of the JSON', async () => {
    const html = await renderHtmlReport(fixture);
    const order = [...html.matchAll(/<tr data-arm="([^"]+)">/g)].map((m) => m[1]);
    const expected = [...fixture.arms].sort((a, b) => a.aggregate.pull!.p50 - b.aggregate.pull!.p50).map((a) => a.arm.name);
    expect(order).toEqual(expected);
    const first = fixture.arms.find((a) => a.arm.name === expected[0])!;
    expect(html).toContain(headlineText(headlineOf(fixture), formatMs));
    expect(html).toMatch(new RegExp(`<tr data-arm="${expected[0]}"><td>[^<]+</td><td data-value="${first.aggregate.pods}">`));
  });

  it('embeds per-arm chart data with true medians and every pull for the CDF', async () => {
    const data = dataOf(await renderHtmlReport(fixture));
    expect(data.arms).toHaveLength(fixture.arms.length);
    for (const arm of fixture.arms) {
      const d = data.arms.find((a: { name: string }) => a.name === arm.arm.name);
      expect(d.box.median).toBeCloseTo(arm.aggregate.pull!.p50, 6);
      expect(d.pulls).toHaveLength(arm.aggregate.pull!.count);
      expect(d.waterfall).toHaveLength(arm.repetitions[0]!.pods.length);
    }
  });

  it('escapes names that try to close the script or inject markup', async () => {
    const r = copy();
    r.scenario.name = '</script><img src=x onerror=alert(1)>';
    r.arms[0]!.arm.name = '<b>arm</b>';
    const html = await renderHtmlReport(r);
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('<b>arm</b>');
    expect(dataOf(html).arms[0].name).toBe('<b>arm</b>');
  });

  it('with a baseline: a delta column, the baseline series and the comparison verdicts', async () => {
    const slower = copy();
    for (const rep of slower.arms[0]!.repetitions) for (const p of rep.pods) if (p.pullMs !== undefined) p.pullMs *= 2;
    slower.arms[0]!.aggregate.pull!.p50 *= 2;
    const html = await renderHtmlReport(slower, { baseline: { results: fixture, comparison: compareResults(fixture, slower) } });
    expect(html).toContain('<th>Δ p50</th>');
    expect(html).toContain('+100.0%');
    expect(html).toMatch(/<h2>Against the baseline: regressed<\/h2>/);
    expect(dataOf(html).baselineArms).toHaveLength(fixture.arms.length);
  });

  it('labels the byte chart and the byte column as scaled when the run was byte-scaled, and not otherwise', async () => {
    const plain = await renderHtmlReport(fixture);
    expect(dataOf(plain).bytesChart).toEqual({ axis: 'bytes per repetition' });
    expect(plain).toContain('aria-label="bytes by source"');
    expect(plain).toContain('<th>from registry</th>');

    const scaled = copy();
    scaled.scale = { bytes: 0.1, byteCounts: 'measured' };
    const html = await renderHtmlReport(scaled);
    expect(dataOf(html).bytesChart).toEqual({ axis: 'bytes per repetition (scaled x0.1)', title: 'Bytes as measured at scale.bytes 0.1: x10 for the modelled sizes' });
    expect(html).toContain('aria-label="bytes by source (scaled x0.1)"');
    expect(html).toContain('<h2>Where the bytes came from (scaled x0.1), and what reached the upstream</h2>');
    expect(html).toContain('<th>from registry (scaled x0.1)</th>');
  });

  it('with a baseline of another scenario: says why they cannot be compared, draws no baseline series', async () => {
    const other = copy();
    other.scenario.name = 'other';
    const html = await renderHtmlReport(fixture, { baseline: { results: other, comparison: compareResults(other, fixture) } });
    expect(html).toContain('Not comparable: different scenarios');
    expect(dataOf(html).baselineArms).toEqual([]);
  });
});
