import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { armLegend, comparedSubject, failedText, formatValue, type ArmResult, type Comparison, type RunResults } from '../../results/index.js';
import { formatBytes, formatMs } from '../../util/units.js';
import { STORM_COLUMNS, STORM_NOTE, stormCells } from '../../load/stage.js';
import { CLIENT_SCRIPT } from './client.js';
import { EMULATION_HEAD, EMULATION_NOTE, emulationCells, modelNote, scaleLabel, scaleNote } from './emulation.js';
import { headlineOf, headlineText } from '../../results/index.js';
import { rankArms, reportModel } from './model.js';
import { P2P_HEAD, P2P_NOTE, p2pCells } from './p2p.js';
import { POOL_HEAD, POOL_NOTE, poolCells, poolRows, REGISTRY_NOTE, registryCells, registryRows } from '../../results/breakdown.js';
import { TIMELINE_STYLE, timelinesSection } from './timelines.js';

export interface HtmlReportOptions {
  /** A baseline run and its comparison with this one (computed once, by the caller): a delta column and the verdicts. */
  baseline?: { results: RunResults; comparison: Comparison };
  /** Chart.js UMD source; read from node_modules when absent. */
  chartJs?: string;
}

/** Chart.js's UMD build, read from the installed package (it is inlined so the page opens offline). */
export async function chartJsSource(): Promise<string> {
  const main = createRequire(import.meta.url).resolve('chart.js');
  return readFile(join(dirname(main), 'chart.umd.js'), 'utf8');
}

const esc = (s: string): string => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
// JSON inside <script>: no "</script>" or "<!--" can close or confuse it.
const inlineJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
const num = (v: number | undefined, text: string): string => `<td data-value="${v ?? ''}">${esc(text)}</td>`;

const capitalized = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

function headline(results: RunResults): string {
  return `<p class="headline" data-testid="headline">${esc(headlineText(headlineOf(results), formatMs))}</p>`;
}

function headlineTable(results: RunResults, baseline?: RunResults): string {
  const ranked = rankArms(results);
  const fastest = ranked.find((a) => a.aggregate.pull)?.aggregate.pull?.p50;
  const base = (name: string): ArmResult | undefined => baseline?.arms.find((a) => a.arm.name === name);
  const scaled = scaleLabel(results);
  const head = ['arm', 'pods', 'pull p50', 'pull p95', 'incl. waiting p95', 'rollout', 'failed', scaled ? `from registry (${scaled})` : 'from registry', 'upstream pulls', 'p50 / lowest p50'];
  if (baseline) head.push('baseline p50', 'Δ p50');
  const rows = ranked.map((arm) => {
    const a = arm.aggregate;
    const cells = [
      `<td>${esc(arm.arm.name)}</td>`,
      num(a.pods, String(a.pods)),
      num(a.pull?.p50, a.pull ? formatMs(a.pull.p50) : '-'),
      num(a.pull?.p95, a.pull ? formatMs(a.pull.p95) : '-'),
      num(a.pullWithWaiting?.p95, a.pullWithWaiting ? formatMs(a.pullWithWaiting.p95) : '-'),
      num(a.rolloutDuration?.mean, a.rolloutDuration ? formatMs(a.rolloutDuration.mean) : '-'),
      num(a.failures.total, failedText(a.failures.total, arm.repetitions.flatMap((r) => r.pods).filter((p) => p.outcome !== 'ready' && p.expectFailure).length)),
      num(a.bytes.registry, formatBytes(a.bytes.registry)),
      num(a.upstreamPulls, String(Math.round(a.upstreamPulls))),
      num(a.pull && fastest ? a.pull.p50 / fastest : undefined, a.pull && fastest ? `${(a.pull.p50 / fastest).toFixed(2)}x` : '-'),
    ];
    if (baseline) {
      const b = base(arm.arm.name)?.aggregate.pull?.p50;
      const d = b !== undefined && a.pull ? (a.pull.p50 - b) / b : undefined;
      cells.push(num(b, b === undefined ? '-' : formatMs(b)), num(d, d === undefined ? '-' : `${d >= 0 ? '+' : ''}${(d * 100).toFixed(1)}%`));
    }
    return `<tr data-arm="${esc(arm.arm.name)}">${cells.join('')}</tr>`;
  });
  // The ratio column is a plain ratio of medians: the headline above says whether a difference is real.
  const legend = `<p class="legend" id="arm-legend">An arm is pull policy/topology/cache. ${esc(capitalized(armLegend(results.arms.some((a) => a.aggregate.bytes.peers !== undefined))))}. Failed: pods that did not start (expected: the rollout expects them to fail). p50 / lowest p50: this arm's pull p50 over the lowest arm's, a ratio, not a ranking; the headline says which differences stand out of the noise.</p>`;
  return `${table('headline-table', head, rows)}${legend}`;
}

function table(id: string, head: string[], rows: string[]): string {
  return `<div class="scroll"><table class="sortable" id="${id}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

function comparisonSection(c: Comparison): string {
  if (c.reasons.length > 0) return `<section><h2>Against the baseline</h2><p class="bad">Not comparable: ${esc(c.reasons.join('; '))}</p></section>`;
  const rows = c.metrics.map(
    (m) =>
      `<tr class="v-${m.verdict.replace(' ', '-')}"><td>${esc(comparedSubject(m))}</td><td>${esc(m.label)}</td>${num(m.baseline, formatValue(m.unit, m.baseline))}${num(m.current, formatValue(m.unit, m.current))}${num(m.relative, m.relative === undefined ? '-' : Number.isFinite(m.relative) ? `${m.relative >= 0 ? '+' : ''}${(m.relative * 100).toFixed(1)}%` : '∞')}<td>${esc(m.verdict)}</td><td>${esc(m.reason)}</td></tr>`,
  );
  const n = c.counts;
  return `<section><h2>Against the baseline: ${esc(c.verdict)}</h2><p>${n.regressed} regressed, ${n.improved} improved, ${n.unchanged} unchanged, ${n.inconclusive ?? 0} inconclusive, ${n['not comparable']} not comparable${c.environment && c.environment.verdict !== 'similar' ? `; environment: ${esc(c.environment.verdict)} (${esc(c.environment.reason)})` : ''} (95% bootstrap CI of the difference, tolerance per metric).</p>${table('comparison-table', ['arm', 'metric', 'baseline', 'current', 'Δ', 'verdict', 'why'], rows)}${c.specChanges.length ? `<p>Scenario changes: <code>${esc(c.specChanges.join('; '))}</code></p>` : ''}</section>`;
}

function failuresTable(results: RunResults): string {
  const reasons = [...new Set(results.arms.flatMap((a) => Object.keys(a.aggregate.failures.byReason)))].sort();
  if (reasons.length === 0) return '<p>No pod failed.</p>';
  const expected = (a: ArmResult): number => a.repetitions.flatMap((r) => r.pods).filter((p) => p.outcome !== 'ready' && p.expectFailure).length;
  const rows = results.arms.map((a) => `<tr><td>${esc(a.arm.name)}</td>${reasons.map((r) => num(a.aggregate.failures.byReason[r] ?? 0, String(a.aggregate.failures.byReason[r] ?? 0))).join('')}${num(expected(a), String(expected(a)))}${num(a.aggregate.failures.unexpected, String(a.aggregate.failures.unexpected))}</tr>`);
  return table('failures-table', ['arm', ...reasons, 'expected', 'unexpected'], rows);
}

function requestsTable(results: RunResults): string {
  const rows = results.arms.map((arm) => {
    const a = arm.aggregate;
    return `<tr><td>${esc(arm.arm.name)}</td>${num(a.upstreamPulls, String(Math.round(a.upstreamPulls)))}${num(a.requests.registryManifestHead, String(Math.round(a.requests.registryManifestHead)))}${num(a.requests.registryBlobGet, String(Math.round(a.requests.registryBlobGet)))}${num(a.tooManyRequests, String(Math.round(a.tooManyRequests)))}${num(a.mirrorHitRatio, a.mirrorHitRatio === undefined ? '-' : `${(a.mirrorHitRatio * 100).toFixed(0)}%`)}</tr>`;
  });
  return table('requests-table', ['arm', 'upstream manifest GETs', 'manifest HEADs', 'blob GETs', '429s', 'mirror hit ratio'], rows);
}

function thresholdsTable(results: RunResults): string {
  const rows = results.thresholds.map((t) => `<tr class="${t.passed ? 'ok' : 'bad'}"><td>${t.passed ? 'pass' : 'FAIL'}</td><td>${esc(t.description)}</td></tr>`);
  const g = results.gate;
  rows.push(`<tr class="${g.passed ? 'ok' : 'bad'}"><td>${g.passed ? 'pass' : 'FAIL'}</td><td>failure rate ${(g.failureRate * 100).toFixed(1)}% (max ${(g.max * 100).toFixed(1)}%)</td></tr>`);
  return table('thresholds-table', ['result', 'threshold'], rows);
}

// Emulated runs: what the process spent on the nodes (per node), and whether bytes were scaled.
function emulationSection(results: RunResults): string {
  const rows = results.arms.flatMap(({ arm, aggregate: { usage } }) =>
    usage ? [`<tr><td>${esc(arm.name)}</td>${emulationCells(usage).map(([v, text]) => num(v, text)).join('')}</tr>`] : [],
  );
  if (rows.length === 0) return '';
  return `<h2>Emulation cost</h2><p>${esc(EMULATION_NOTE)}</p>${table('emulation-table', EMULATION_HEAD, rows)}`;
}

// Topology p2p: the ratios, the fallbacks, and the spread of what each node uploaded.
function p2pSection(results: RunResults): string {
  const rows = results.arms.flatMap(({ arm, aggregate: { p2p } }) =>
    p2p ? [`<tr data-arm="${esc(arm.name)}"><td>${esc(arm.name)}</td>${p2pCells(p2p).map(([v, text]) => (v === undefined ? `<td>${esc(text)}</td>` : num(v, text))).join('')}</tr>`] : [],
  );
  if (rows.length === 0) return '';
  return `<h2>Peer-to-peer</h2><p>${esc(P2P_NOTE)}</p>${table('p2p-table', P2P_HEAD, rows)}<div class="chart"><canvas id="chart-uploads" role="img" aria-label="bytes uploaded per node, per p2p arm"></canvas></div>`;
}

// With pools and several registries: every arm's figures per pool (a chart of pull times, a table) and per registry.
function breakdownSection(results: RunResults): string {
  const out: string[] = [];
  const pools = poolRows(results);
  if (pools.length > 0) {
    const rows = pools.map((r) => `<tr data-arm="${esc(r.arm)}" data-pool="${esc(r.pool)}"><td>${esc(r.arm)}</td><td>${esc(r.pool)}</td>${poolCells(r).map(([v, text]) => num(v, text)).join('')}</tr>`);
    out.push(
      `<h2>By pool</h2><p>${esc(capitalized(POOL_NOTE))}.</p>`,
      '<div class="chart"><canvas id="chart-pools" role="img" aria-label="pull time p50 and p95 per pool, per arm"></canvas></div>',
      table('pool-table', ['arm', 'pool', ...POOL_HEAD.map((h) => (h === 'p95' ? 'pull p95' : h === 'registry' || h === 'mirror' ? `link bytes from ${h}` : h))], rows),
    );
  }
  const registries = registryRows(results);
  if (registries.length > 0) {
    const rows = registries.map((r) => `<tr data-arm="${esc(r.arm)}" data-registry="${esc(r.registry)}"><td>${esc(r.arm)}</td><td>${esc(r.registry)}</td>${registryCells(r).map(([v, text]) => num(v, text)).join('')}</tr>`);
    out.push(`<h2>By registry</h2><p>${esc(capitalized(REGISTRY_NOTE))}.</p>`, table('registry-table', ['arm', 'registry', 'bytes served', 'by its mirror', 'upstream pulls', '429s', 'mirror hit ratio'], rows));
  }
  return out.join('\n');
}

// The load: stage: what each storm sent and measured beside the rollout.
function stormSection(results: RunResults): string {
  const rows = results.arms.flatMap(({ arm, aggregate: { load } }) =>
    (load ?? []).map((s) => `<tr data-arm="${esc(arm.name)}"><td>${esc(arm.name)}</td>${stormCells(s).map(([v, text]) => (v === undefined ? `<td>${esc(text)}</td>` : num(v, text))).join('')}</tr>`),
  );
  if (rows.length === 0) return '';
  return `<h2>Registry storms (load stage)</h2><p>${esc(STORM_NOTE.charAt(0).toUpperCase() + STORM_NOTE.slice(1))}.</p><div class="chart"><canvas id="chart-load" role="img" aria-label="requests served: rollout and storms"></canvas></div>${table('load-table', [...STORM_COLUMNS], rows)}`;
}

function environmentTable(results: RunResults): string {
  const e = results.environment;
  const rows: Array<[string, string]> = [
    ['pullbench', e.pullbench], ['Node.js', e.node], ['platform', `${e.platform}/${e.arch}, kernel ${e.kernel}`], ['CPUs', `${e.cpus} x ${e.cpuModel}`],
    ['memory', formatBytes(e.memoryBytes)],
    ...(e.shaExtensions ? [['SHA extensions', e.shaExtensions.hidden ? `hidden from OpenSSL (OPENSSL_ia32cap=${e.shaExtensions.opensslIa32cap ?? ''})` : 'used by OpenSSL where the CPU has them'] as [string, string]] : []),
    ['registry', e.registry], ...(e.mirror ? [['mirror', e.mirror] as [string, string]] : []),
    ...Object.entries(e.cluster).map(([k, v]) => [`cluster ${k}`, v] as [string, string]),
    ['started', results.startedAt], ['finished', results.finishedAt], ['scenario file', results.scenario.file],
  ];
  return `<div class="scroll"><table id="environment-table">${rows.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table></div>`;
}

const STYLE = `
:root { --bg:#ffffff; --fg:#1f2328; --muted:#8c959f; --grid:#d0d7de; --card:#f6f8fa; --ok:#1a7f37; --bad:#cf222e; --font: system-ui, -apple-system, "Segoe UI", sans-serif;
  --c1:#0969da; --c2:#bf8700; --c3:#1a7f37; --c4:#8250df; --c5:#cf222e; --c6:#57606a; color-scheme: light dark; }
@media (prefers-color-scheme: dark) { :root { --bg:#0d1117; --fg:#e6edf3; --muted:#6e7681; --grid:#30363d; --card:#161b22; --ok:#3fb950; --bad:#f85149;
  --c1:#58a6ff; --c2:#d29922; --c3:#3fb950; --c4:#bc8cff; --c5:#f85149; --c6:#8b949e; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 1rem 1.5rem 3rem; background: var(--bg); color: var(--fg); font: 14px/1.5 var(--font); }
h1 { font-size: 1.5rem; margin: .5rem 0; } h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--grid); padding-bottom: .25rem; }
.headline { font-size: 1.05rem; background: var(--card); padding: .75rem 1rem; border-radius: 6px; }
.scroll { overflow-x: auto; max-width: 100%; }
.legend { color: var(--muted); font-size: .9rem; margin: .4rem 0 0; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid var(--grid); text-align: right; white-space: nowrap; }
/* Headers wrap so that wide tables fit the page; words in the "why" column wrap too. */
th { white-space: normal; vertical-align: bottom; min-width: 4rem; }
#comparison-table td:last-child, #environment-table td { white-space: normal; }
th:first-child, td:first-child, #environment-table th, #environment-table td, #thresholds-table th, #thresholds-table td, #comparison-table td:last-child { text-align: left; }
#load-table th:nth-child(-n+5), #load-table td:nth-child(-n+5), #pool-table th:nth-child(-n+2), #pool-table td:nth-child(-n+2), #registry-table th:nth-child(-n+2), #registry-table td:nth-child(-n+2) { text-align: left; }
table.sortable th { cursor: pointer; user-select: none; } table.sortable th[aria-sort=ascending]::after { content: " ▲"; } table.sortable th[aria-sort=descending]::after { content: " ▼"; }
.ok td:first-child { color: var(--ok); } .bad, .bad td:first-child, .v-regressed td { color: var(--bad); } .v-improved td { color: var(--ok); }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1rem; }
.chart { position: relative; height: 300px; background: var(--card); border-radius: 6px; padding: .5rem; }
.status { display: inline-block; padding: 0 .5rem; border-radius: 4px; color: #fff; background: var(--ok); } .status.failed { background: var(--bad); }
`;

/**
 * The run as one self-contained HTML page (styles, Chart.js, data and script
 * inline; opens offline from a CI artifact). With a baseline: a delta column,
 * baseline series beside the current ones and the comparison verdicts.
 */
export async function renderHtmlReport(results: RunResults, options: HtmlReportOptions = {}): Promise<string> {
  const chartJs = options.chartJs ?? (await chartJsSource());
  const baseline = options.baseline?.results;
  const comparison = options.baseline?.comparison;
  const model = reportModel(results, comparison && comparison.reasons.length === 0 ? baseline : undefined);
  const armOptions = results.arms.map((a, i) => `<option value="${i}">${esc(a.arm.name)}</option>`).join('');
  const description = (results.scenario.spec as { metadata?: { description?: string } } | undefined)?.metadata?.description;
  const scaled = scaleLabel(results) ? ` (${scaleLabel(results)!})` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>pullbench: ${esc(results.scenario.name)}</title><style>${STYLE}${TIMELINE_STYLE}</style></head>
<body>
<h1>pullbench: ${esc(results.scenario.name)} <span class="status${results.passed ? '' : ' failed'}">${results.passed ? 'passed' : 'failed'}</span></h1>
${description ? `<p>${esc(description)}</p>` : ''}
${modelNote(results) ? `<p class="headline bad" id="model-note" data-testid="model-note">${esc(modelNote(results)!)}</p>` : ''}
${scaleNote(results) ? `<p class="headline" id="scale-note">${esc(scaleNote(results)!)}</p>` : ''}
${headline(results)}
${headlineTable(results, baseline)}
${comparison ? comparisonSection(comparison) : ''}
<h2>Pull latency</h2>
<div class="grid"><div class="chart"><canvas id="chart-box" role="img" aria-label="pull time box plot per arm"></canvas></div><div class="chart"><canvas id="chart-cdf" role="img" aria-label="pull time CDF per arm"></canvas></div></div>
<h2>Per-pod waterfall</h2>
<label>arm <select id="waterfall-arm">${armOptions}</select></label> (first repetition)
<div class="chart" id="waterfall-box"><canvas id="chart-waterfall" role="img" aria-label="per-pod waterfall"></canvas></div>
${timelinesSection(results)}
<h2>Where the bytes came from${scaled}, and what reached the upstream</h2>
<div class="grid"><div class="chart"><canvas id="chart-bytes" role="img" aria-label="bytes by source${scaled}"></canvas></div><div class="chart"><canvas id="chart-requests" role="img" aria-label="upstream requests and 429s"></canvas></div></div>
${requestsTable(results)}
${breakdownSection(results)}
${p2pSection(results)}
${stormSection(results)}
<h2>Failures by reason</h2>
${failuresTable(results)}
<h2>Thresholds</h2>
${thresholdsTable(results)}
${emulationSection(results)}
<h2>Environment</h2>
${environmentTable(results)}
<script type="application/json" id="pb-data">${inlineJson(model)}</script>
<script>${chartJs.replace(/<\/script/gi, '<\\/script')}</script>
<script>${CLIENT_SCRIPT}</script>
</body></html>
`;
}
