import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compareResults } from '../../src/compare/index.js';
import { renderHtmlReport } from '../../src/report/html/render.js';
import { renderSummary } from '../../src/report/render.js';
import type { RunResults } from '../../src/results/index.js';

// A real run: direct, p2p whole-blob and p2p pieces, 2 repetitions on 4 emulated nodes (a cold DaemonSet).
const fixture = JSON.parse(readFileSync(new URL('./fixtures/p2p-small.results.json', import.meta.url), 'utf8')) as RunResults;
const copy = (): RunResults => structuredClone(fixture);
const PIECES = 'IfNotPresent/p2p-pieces/cold';

describe('the p2p fields in compare', () => {
  it('compares the back-to-source ratio and the largest upload for the p2p arms only', () => {
    const c = compareResults(fixture, copy(), { resamples: 300 });
    const p2pRows = c.metrics.filter((m) => m.metric === 'backToSourceRatio' || m.metric === 'peerUploadMax');
    expect(new Set(p2pRows.map((m) => m.arm))).toEqual(new Set(['IfNotPresent/p2p-whole-blob/cold', PIECES]));
    expect(p2pRows.every((m) => m.verdict === 'unchanged')).toBe(true);
  });

  it('calls a p2p arm that went back to the registry for everything a regression', () => {
    const worse = copy();
    for (const rep of worse.arms.find((a) => a.arm.name === PIECES)!.repetitions) {
      rep.registry.bytesServed *= 6;
      rep.linkBytes!.peers = 0;
      rep.p2p!.peerBytes = 0;
    }
    const row = compareResults(fixture, worse, { resamples: 300 }).metrics.find((m) => m.arm === PIECES && m.metric === 'backToSourceRatio')!;
    expect(row.verdict).toBe('regressed');
    expect(row.current).toBe(1);
  });
});

describe('the p2p fields in the reports', () => {
  it('prints bytes from peers and a p2p table in the summary', () => {
    const text = renderSummary(fixture);
    expect(text).toMatch(/registry +mirror +peers +pulls/);
    const line = text.split('\n').find((l) => l.startsWith(PIECES) && / pieces +\d+%/.test(l))!;
    const p2p = fixture.arms.find((a) => a.arm.name === PIECES)!.aggregate.p2p!;
    expect(line).toContain(`${(p2p.backToSourceRatio * 100).toFixed(0)}%`);
  });

  it('draws the p2p table and the upload spread in the HTML report', async () => {
    const html = await renderHtmlReport(fixture);
    expect(html).toContain('id="p2p-table"');
    expect(html).toContain('id="chart-uploads"');
    expect(html).toContain('"uploads":{"min"');
  });
});
