import { comparedSubject, formatValue, type Comparison, type MetricComparison } from '../results/index.js';

export { formatValue };

function change(m: MetricComparison): string {
  if (m.delta === undefined || m.relative === undefined) return '-';
  if (m.unit === 'ratio') return `${m.delta >= 0 ? '+' : ''}${(m.delta * 100).toFixed(1)} pp`;
  if (!Number.isFinite(m.relative)) return m.delta > 0 ? '+inf' : '-inf';
  return `${m.relative >= 0 ? '+' : ''}${(m.relative * 100).toFixed(1)}%`;
}

function ci(m: MetricComparison): string {
  if (!m.ci) return '-';
  const f = (x: number): string => (m.unit === 'ratio' ? `${(x * 100).toFixed(1)}pp` : formatValue(m.unit, x));
  return `[${f(m.ci.low)}, ${f(m.ci.high)}]`;
}

function cells(m: MetricComparison): string[] {
  return [comparedSubject(m), m.label, formatValue(m.unit, m.baseline), formatValue(m.unit, m.current), change(m), ci(m), `${m.tolerance}${m.unit === 'ratio' ? 'pp' : '%'}`, m.verdict];
}

const HEADER = ['arm', 'metric', 'baseline', 'current', 'change', '95% CI of difference', 'tolerance', 'verdict'];

function counted(c: Comparison): string {
  const n = c.counts;
  return `${n.regressed} regressed, ${n.improved} improved, ${n.unchanged} unchanged${n.inconclusive ? `, ${n.inconclusive} inconclusive` : ''}, ${n['not comparable']} not comparable`;
}

function headline(c: Comparison): string {
  if (c.reasons.length > 0 && c.metrics.length === 0) return `NOT COMPARABLE: ${c.reasons.join('; ')}`;
  return `${c.verdict.toUpperCase()}: ${counted(c)}`;
}

/** The environment verdict in one line, or none when the machines were alike. */
function environmentLine(c: Comparison): string | undefined {
  const e = c.environment;
  if (!e || e.verdict === 'similar') return undefined;
  if (e.verdict === 'unknown') return `environment: unknown, ${e.reason}`;
  const factors = Object.entries(e.machineFactor ?? {}).filter(([, f]) => f !== 1);
  const shared = factors.length > 0 ? `; timing changes all arms shared are put down to the machine (${factors.map(([m, f]) => `${m} x${f.toFixed(2)}`).join(', ')})` : '';
  if (e.verdict === 'both busy') return `environment: both runs shared a busy machine (${e.reason}); timing changes within x4 are inconclusive`;
  return `environment: the ${e.verdict === 'current busier' ? 'current run' : 'baseline'} ran on a busier machine (${e.reason})${shared}`;
}

/** The comparison as an aligned text table with the verdict first. */
export function renderComparisonTable(c: Comparison): string {
  const out = [headline(c)];
  const env = environmentLine(c);
  if (env) out.push(env);
  if (c.metrics.length > 0) {
    const rows = c.metrics.map(cells);
    const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]): string => r.map((x, i) => (i < 2 || i === 7 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ').trimEnd();
    out.push('', line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line));
  }
  const notable = c.metrics.filter((m) => m.verdict !== 'unchanged');
  if (notable.length > 0) out.push('', ...notable.map((m) => `${m.verdict === 'regressed' ? 'REGRESSED' : m.verdict}: ${comparedSubject(m)} ${m.label}: ${m.reason}`));
  if (c.specChanges.length > 0) out.push('', 'scenario changes between the runs:', ...c.specChanges.map((s) => `  ${s}`));
  return `${out.join('\n')}\n`;
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[ch]!);
}

/** JUnit XML: one testcase per arm (and pool, and registry) and metric; a regression is a failure, a metric that cannot be compared is skipped. */
export function renderComparisonJunit(c: Comparison): string {
  const name = c.scenario.current;
  const cases = c.metrics.map((m) => {
    const body =
      m.verdict === 'regressed'
        ? `<failure message="${xmlEscape(`${m.label} ${change(m)}: ${m.reason}`)}"/>`
        : m.verdict === 'not comparable'
          ? `<skipped message="${xmlEscape(m.reason)}"/>`
          : `<system-out>${xmlEscape(`${m.verdict}: ${formatValue(m.unit, m.baseline)} -> ${formatValue(m.unit, m.current)} (${m.reason})`)}</system-out>`;
    return `    <testcase name="${xmlEscape(`${comparedSubject(m)} ${m.label}`)}" classname="${xmlEscape(`pullbench.compare.${name}.${m.arm}`)}">${body}</testcase>`;
  });
  // Runs that cannot be compared at all are one failing testcase, so CI shows why.
  if (c.reasons.length > 0) {
    cases.push(`    <testcase name="comparable" classname="${xmlEscape(`pullbench.compare.${name}`)}"><failure message="${xmlEscape(`not comparable: ${c.reasons.join('; ')}`)}"/></testcase>`);
  }
  const failures = c.counts.regressed + (c.reasons.length > 0 ? 1 : 0);
  const skipped = c.counts['not comparable'];
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites tests="${cases.length}" failures="${failures}" skipped="${skipped}">\n  <testsuite name="${xmlEscape(`pullbench compare ${name}`)}" tests="${cases.length}" failures="${failures}" skipped="${skipped}" timestamp="${xmlEscape(c.current.startedAt)}">\n${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`;
}

const ICON: Record<string, string> = { regressed: '🔴 regressed', improved: '🟢 improved', unchanged: '⚪ unchanged', inconclusive: '🟡 inconclusive', 'not comparable': '⚠️ not comparable' };

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Markdown for a CI job summary ($GITHUB_STEP_SUMMARY): verdict, the rows that changed, then every row folded. */
export function renderComparisonMarkdown(c: Comparison): string {
  const out = [`## pullbench compare: ${c.scenario.current} — ${ICON[c.verdict] ?? c.verdict}`, ''];
  out.push(`Baseline ${c.baseline.file ? `\`${c.baseline.file}\` ` : ''}(${c.baseline.startedAt}) vs current ${c.current.file ? `\`${c.current.file}\` ` : ''}(${c.current.startedAt}).`, '');
  if (c.reasons.length > 0) out.push('**Not comparable:**', ...c.reasons.map((r) => `- ${mdCell(r)}`), '');
  const env = environmentLine(c);
  if (env) out.push(`**${mdCell(env)}**`, '');
  if (c.metrics.length > 0) {
    out.push(`${counted(c)} (95% bootstrap CI of the difference, ${c.resamples} resamples).`, '');
    const table = (rows: MetricComparison[]): string[] => [
      `| ${HEADER.join(' | ')} |`,
      `|${HEADER.map((_, i) => (i < 2 || i === 7 ? ' --- ' : ' ---: ')).join('|')}|`,
      ...rows.map((m) => `| ${cells(m).map((x, i) => mdCell(i === 7 ? (ICON[x] ?? x) : x)).join(' | ')} |`),
    ];
    const changed = c.metrics.filter((m) => m.verdict !== 'unchanged');
    if (changed.length > 0) out.push(...table(changed), '');
    out.push('<details><summary>All metrics</summary>', '', ...table(c.metrics), '', '</details>', '');
  }
  if (c.specChanges.length > 0) out.push('Scenario changes between the runs:', ...c.specChanges.map((s) => `- \`${mdCell(s)}\``), '');
  return `${out.join('\n')}`;
}
