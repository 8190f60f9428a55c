import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderHtmlReport } from '../../src/report/html/index.js';
import type { RunResults } from '../../src/results/index.js';

// A real (scaled-down) quickstart run, with the first arm's first repetition given what an outage leaves in
// results.json: a fault window, and pods whose attempts failed, backed off and were retried.
const fixture = JSON.parse(readFileSync(new URL('../compare/fixtures/quickstart-small.results.json', import.meta.url), 'utf8')) as RunResults;
const chartJs = '/* Chart.js v4 stand-in */';

function withOutage(): { results: RunResults; t0: number } {
  const results = structuredClone(fixture);
  const rep = results.arms[0]!.repetitions[0]!;
  const t0 = rep.pods.reduce((m, p) => Math.min(m, p.createdAt), Infinity);
  rep.faults = { windows: [{ target: 'registry', kind: 503, startedAt: t0 + 500, endedAt: t0 + 25_000 }], faulted: { '503': 6 } };
  const [hit, lost] = rep.pods;
  // Fails at 1.1 s and 11.2 s, backs off 10 s then 20 s, pulls on the third attempt.
  Object.assign(hit!, {
    pullAttempts: [t0 + 1_000, t0 + 11_100, t0 + 31_200],
    pullFailures: [{ at: t0 + 1_100, cause: 'serverError' }, { at: t0 + 11_200, cause: 'serverError' }],
    pulledAt: t0 + 32_000,
    readyAt: t0 + 32_500,
  });
  // Fails once and is never retried before the step ends: its back-off runs to the end of the drawn span.
  Object.assign(lost!, { pullAttempts: [t0 + 2_000], pullFailures: [{ at: t0 + 2_050, cause: 'resetOrRefused' }], outcome: 'failed' });
  delete lost!.readyAt;
  delete lost!.pulledAt;
  return { results, t0 };
}

const svgOf = (html: string, arm: string): string => new RegExp(`<svg class="timeline" data-arm="${arm.replace(/\//g, '\\/')}"[^]*?</svg>`).exec(html)?.[0] ?? '';
const podOf = (svg: string, pod: string): string => new RegExp(`<g class="pod" data-pod="${pod}"[^]*?</g>`).exec(svg)?.[0] ?? '';
const rects = (fragment: string, cls: string): Array<Record<string, string>> =>
  [...fragment.matchAll(new RegExp(`<rect class="${cls}"([^>]*)>`, 'g'))].map((m) => Object.fromEntries([...m[1]!.matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!])));

describe('the HTML report\'s per-pod timelines', () => {
  it('draw each pull attempt, the back-off after each failed one and the fault window', async () => {
    const { results } = withOutage();
    const html = await renderHtmlReport(results, { chartJs });
    const arm = results.arms[0]!.arm.name;
    expect(html).toContain('id="pod-timelines"');
    const svg = svgOf(html, arm);
    const [fault] = rects(svg, 'fault');
    expect(fault).toMatchObject({ 'data-kind': '503', 'data-target': 'registry', 'data-from': '500', 'data-to': '25000' });

    const hit = podOf(svg, results.arms[0]!.repetitions[0]!.pods[0]!.name);
    const attempts = rects(hit, 'attempt (?:failed|pulled)');
    expect(attempts.map((a) => [a['data-from'], a['data-to'], a['data-cause']])).toEqual([
      ['1000', '1100', 'serverError'],
      ['11100', '11200', 'serverError'],
      ['31200', '32000', undefined],
    ]);
    const backoffs = rects(hit, 'backoff');
    expect(backoffs.map((b) => [Number(b['data-to']) - Number(b['data-from']), b['data-retried']])).toEqual([[10_000, 'true'], [20_000, 'true']]);
    expect(hit).toContain('<title>back-off 10.00s</title>');
    expect(hit).toMatch(/<circle class="ready" data-at="32500"/);
    // Drawn where the times say: a back-off starts where its failed attempt ends and ends where the retry starts.
    const right = (r: Record<string, string>): number => Number(r.x) + Number(r.width);
    expect(Number(backoffs[0]!.x)).toBeCloseTo(right(attempts[0]!), 0);
    expect(right(backoffs[0]!)).toBeCloseTo(Number(attempts[1]!.x), 0);
    expect(Number(fault!.x)).toBeLessThan(Number(attempts[0]!.x));
    expect(right(fault!)).toBeGreaterThan(Number(backoffs[1]!.x));
    expect(right(fault!)).toBeLessThan(Number(attempts[2]!.x));
  });

  it('run a back-off that was never retried to the end of the span, and draw no back-off for pods that never failed', async () => {
    const { results } = withOutage();
    const html = await renderHtmlReport(results, { chartJs });
    const svg = svgOf(html, results.arms[0]!.arm.name);
    const pods = results.arms[0]!.repetitions[0]!.pods;
    const lost = podOf(svg, pods[1]!.name);
    expect(lost).toContain('data-outcome="failed"');
    const [b] = rects(lost, 'backoff');
    expect(b).toMatchObject({ 'data-from': '2050', 'data-to': '32500', 'data-retried': 'false' });
    for (const p of pods.slice(2)) {
      const g = podOf(svg, p.name);
      expect(g).not.toBe('');
      expect(rects(g, 'backoff')).toEqual([]);
    }
  });

  it("name a real cluster's fault by what was done to the container", async () => {
    const { results } = withOutage();
    Object.assign(results.arms[0]!.repetitions[0]!.faults!.windows[0]!, { kind: 'stall', action: 'docker pause' });
    const svg = svgOf(await renderHtmlReport(results, { chartJs }), results.arms[0]!.arm.name);
    expect(svg).toContain('<title>fault stall on registry (docker pause): 500ms to 25.00s</title>');
    expect(svg).toContain('>registry docker pause</text>');
  });

  it('leave out arms without a fault or a failed attempt, and the section when no arm has one', async () => {
    const { results } = withOutage();
    const html = await renderHtmlReport(results, { chartJs });
    expect([...html.matchAll(/<svg class="timeline" data-arm="([^"]+)"/g)].map((m) => m[1])).toEqual([results.arms[0]!.arm.name]);
    expect(await renderHtmlReport(fixture, { chartJs })).not.toContain('pod-timelines');
  });

  it('escape pod names and say how many pods were left out', async () => {
    const { results } = withOutage();
    const rep = results.arms[0]!.repetitions[0]!;
    rep.pods[0]!.name = '<script>x</script>';
    const many = Array.from({ length: 100 }, (_, i) => ({ ...structuredClone(rep.pods[2]!), name: `extra-${i}`, uid: `u-${i}` }));
    rep.pods.push(...many);
    const html = await renderHtmlReport(results, { chartJs });
    expect(html).not.toContain('<script>x</script>');
    expect(html).toContain('data-pod="&lt;script&gt;x&lt;/script&gt;"');
    // 80 rows at most: the pods that failed first; the rest are counted.
    expect(html).toContain(`${rep.pods.length - 80} more pods without a failed attempt are not drawn.`);
  });
});
