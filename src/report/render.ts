import { renderStorms } from '../load/stage.js';
import { modelNote, scaleNote, usageLines } from './html/emulation.js';
import { p2pLines } from './html/p2p.js';
import { armLegend, failedText, type RunResults, type SupplyChainResult } from '../results/index.js';
import { headlineOf, headlineText } from '../results/index.js';
import { formatBytes, formatMs } from '../util/units.js';
import { POOL_HEAD, POOL_NOTE, POOL_PROPERTIES, poolCells, poolRows, REGISTRY_HEAD, REGISTRY_NOTE, REGISTRY_PROPERTIES, registryCells, registryRows, type Cell } from '../results/breakdown.js';

/** The summary table printed at the end of `pullbench run`: one row per arm. */
export function renderSummary(results: RunResults): string {
  const reps = Math.max(0, ...results.arms.map((a) => a.repetitions.length));
  // Bytes from peers only when an arm ran topology p2p.
  const peers = results.arms.some((a) => a.aggregate.bytes.peers !== undefined);
  const header = ['arm', 'pods', 'pull p50', 'p95', 'rollout', 'failed', 'registry', 'mirror', ...(peers ? ['peers'] : []), 'pulls', 'hit'];
  const rows = results.arms.map(({ arm, aggregate: a, repetitions }) => [
    arm.name,
    String(a.pods),
    a.pull ? formatMs(a.pull.p50) : '-',
    a.pull ? formatMs(a.pull.p95) : '-',
    a.rolloutDuration ? formatMs(a.rolloutDuration.mean) : '-',
    failedText(a.failures.total, repetitions.flatMap((r) => r.pods).filter((p) => p.outcome !== 'ready' && p.expectFailure).length),
    formatBytes(a.bytes.registry),
    formatBytes(a.bytes.mirror),
    ...(peers ? [formatBytes(a.bytes.peers ?? 0)] : []),
    String(Math.round(a.upstreamPulls)),
    a.mirrorHitRatio === undefined ? '-' : `${(a.mirrorHitRatio * 100).toFixed(0)}%`,
  ]);
  const modelled = modelNote(results);
  const out = [
    ...(modelled ? [wrap(modelled, 100), ''] : []),
    ...aligned(header, rows),
    wrap(
      `arm = pull policy/topology/cache (${armLegend(peers)}). ` +
        `pods and pull times pool all ${reps} repetition(s); rollout, registry${peers ? ', mirror and peer' : ' and mirror'} bytes and pulls (manifest GETs at the registry) are per repetition, means; hit: the mirror's blob hit ratio.`,
      100,
    ),
    ...(results.arms.some((a) => a.aggregate.tooManyRequests > 0) ? [`429s per repetition: ${results.arms.map((a) => `${a.arm.name} ${Math.round(a.aggregate.tooManyRequests)}`).join(', ')}`] : []),
    '',
    wrap(headlineText(headlineOf(results), formatMs), 100),
  ];
  const breakdown = breakdownLines(results);
  if (breakdown.length > 0) out.push('', ...breakdown);
  const failures = failureLines(results);
  if (failures.length > 0) out.push('', ...failures);
  if (results.thresholds.length > 0) {
    out.push('', 'thresholds:');
    for (const t of results.thresholds) out.push(`  ${t.passed ? 'pass' : 'FAIL'}  ${t.description}`);
  }
  if (results.supplyChain) out.push('', ...supplyChainLines(results.supplyChain));
  const p2p = p2pLines(results);
  if (p2p.length > 0) out.push('', ...p2p.slice(0, -1), wrap(p2p[p2p.length - 1]!, 100));
  const storms = renderStorms(results.arms);
  if (storms.length > 0) out.push('', ...storms);
  const usage = usageLines(results);
  if (usage.length > 0) out.push('', ...usage);
  const scaled = scaleNote(results);
  if (scaled) out.push('', scaled);
  const g = results.gate;
  out.push('', `failure rate ${(g.failureRate * 100).toFixed(1)}% (max ${(g.max * 100).toFixed(1)}%): ${g.passed ? 'pass' : 'FAIL'}`);
  return `${out.join('\n')}\n`;
}

/** Rows under a header: the first `left` columns left-aligned, the others (numbers) right-aligned. */
function aligned(header: readonly string[], rows: string[][], left = 1): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

// The arm's name on its first row only, so that each arm's pools (or registries) read as a group.
function grouped<T extends { arm: string }>(rows: T[], cells: (row: T) => string[]): string[][] {
  return rows.map((row, i) => [i > 0 && rows[i - 1]!.arm === row.arm ? '' : row.arm, ...cells(row)]);
}

/** The arms' figures per pool and per registry, when the run had pools or several registries. */
function breakdownLines(results: RunResults): string[] {
  const out: string[] = [];
  const pools = poolRows(results);
  if (pools.length > 0) {
    out.push(...aligned(['arm', 'pool', ...POOL_HEAD], grouped(pools, (r) => [r.pool, ...poolCells(r).map(([, text]) => text)]), 2), wrap(POOL_NOTE, 100));
  }
  const registries = registryRows(results);
  if (registries.length > 0) {
    if (out.length > 0) out.push('');
    out.push(...aligned(['arm', 'registry', ...REGISTRY_HEAD], grouped(registries, (r) => [r.registry, ...registryCells(r).map(([, text]) => text)]), 2), wrap(REGISTRY_NOTE, 100));
  }
  return out;
}

function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join('\n');
}

/** Each failure reason of each arm with one example message (kubelet's last error), and the steps that ended early. */
function failureLines(results: RunResults): string[] {
  const out: string[] = [];
  for (const { arm, repetitions } of results.arms) {
    const byReason = new Map<string, { n: number; expected: number; example?: string | undefined }>();
    for (const p of repetitions.flatMap((r) => r.pods)) {
      if (p.outcome === 'ready') continue;
      const reason = p.failureReason ?? 'NotReady';
      const entry = byReason.get(reason) ?? { n: 0, expected: 0 };
      entry.n++;
      if (p.expectFailure) entry.expected++;
      else entry.example ??= p.lastError;
      if (entry.example === undefined && p.lastError) entry.example = p.lastError;
      byReason.set(reason, entry);
    }
    for (const [reason, e] of byReason) {
      const expected = e.expected === e.n ? ' (expected)' : e.expected > 0 ? ` (${e.expected} expected)` : '';
      out.push(`  ${arm.name}: ${reason} x${e.n}${expected}${e.example ? `: ${essence(e.example)}` : ''}`);
    }
    const early = repetitions.flatMap((r) => r.steps.filter((s) => s.failedFast).map((s) => `${s.name} (${s.failedFast!.cause})`));
    if (early.length > 0) out.push(`  ${arm.name}: ended early, retrying cannot fix: ${[...new Set(early)].join(', ')} (rollouts[].failFast)`);
  }
  return out.length > 0 ? ['pods that did not start (reason x count: one example message):', ...out] : [];
}

// kubelet and CRI wrap the cause in prefixes that repeat the image name; the cause is at the end.
function essence(message: string): string {
  const text = message
    .replace(/^Failed to pull image "[^"]*": /, '')
    .replace(/^rpc error: code = \w+ desc = /, '')
    .replace(/^failed to pull and unpack image "[^"]*": /, '');
  return text.length > 160 ? `...${text.slice(-157)}` : text;
}

function supplyChainLines(sc: SupplyChainResult): string[] {
  const out = [`supply chain (verify mode ${sc.mode}${sc.signing ? `; signed ${sc.signing.images.length} image(s), ${sc.signing.format}, ${sc.signing.key} key ${sc.signing.keyId}` : ''}):`];
  for (const i of sc.images) {
    const verdict = i.admitted ? i.decision : 'DENIED';
    out.push(`  ${verdict.padEnd(6)}  ${i.image}${i.signer ? `  signer ${i.signer}` : ''}${i.decision !== 'allow' ? `  ${i.reasons.join('; ')}` : ''}`);
  }
  const c = sc.cache;
  out.push(`  cache: ${c.verifications} verification(s), ${c.hits} hit(s), ${c.resolves} resolve(s), ${c.signatureFetches} signature fetch(es)`);
  return out;
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** JUnit XML: one testcase per threshold (and arm), plus the failure-rate gate. */
export function renderJunit(results: RunResults): string {
  const cases: Array<{ name: string; classname: string; failure: string | undefined; out?: string; properties?: Array<[string, number]> }> = results.thresholds.map((t) => ({
    name: t.name, classname: `pullbench.${results.scenario.name}.${t.arm}`, failure: t.passed ? undefined : t.description,
  }));
  // One testcase per image decision: an unexpected denial fails it; a warning, or a denial its rollouts expect, does not.
  for (const i of results.supplyChain?.images ?? []) {
    cases.push({
      name: `verify ${i.image}`,
      classname: `pullbench.${results.scenario.name}.supply-chain`,
      failure: i.decision === 'deny' && !i.expectDenial ? `${i.admitted ? 'denied (warn mode, rolled out)' : 'denied'}: ${i.reasons.join('; ')}` : undefined,
    });
  }
  // Pods that failed as their rollout expects pass, and say so, so CI does not read them as flaky.
  for (const { arm, repetitions } of results.arms) {
    const expected = repetitions.flatMap((r) => r.pods).filter((p) => p.expectFailure && p.outcome !== 'ready');
    if (expected.length === 0) continue;
    const reasons = [...new Set(expected.map((p) => p.failureReason ?? 'NotReady'))].join(', ');
    cases.push({ name: `${arm.name} expected failures`, classname: `pullbench.${results.scenario.name}.${arm.name}`, failure: undefined, out: `${expected.length} pod(s) failed as expected (rollouts[].expect: failure): ${reasons}` });
  }
  // Each pool's and registry's figures, where JUnit consumers show them (the case's properties and output). They record;
  // the thresholds and the failure-rate gate judge, as they judge the arm.
  const figures = (head: readonly string[], keys: readonly string[], cells: Cell[]): Pick<(typeof cases)[number], 'out' | 'properties'> => ({
    out: head.map((h, i) => `${h} ${cells[i]![1]}`).join(', '),
    properties: keys.flatMap((k, i): Array<[string, number]> => (cells[i]![0] === undefined ? [] : [[k, cells[i]![0]!]])),
  });
  for (const row of poolRows(results)) {
    cases.push({ name: `${row.arm} pool ${row.pool}`, classname: `pullbench.${results.scenario.name}.${row.arm}`, failure: undefined, ...figures(POOL_HEAD, POOL_PROPERTIES, poolCells(row)) });
  }
  for (const row of registryRows(results)) {
    cases.push({ name: `${row.arm} registry ${row.registry}`, classname: `pullbench.${results.scenario.name}.${row.arm}`, failure: undefined, ...figures(REGISTRY_HEAD, REGISTRY_PROPERTIES, registryCells(row)) });
  }
  const g = results.gate;
  cases.push({
    name: 'failure rate',
    classname: `pullbench.${results.scenario.name}`,
    failure: g.passed ? undefined : `failure rate ${(g.failureRate * 100).toFixed(1)}% > ${(g.max * 100).toFixed(1)}%`,
  });
  const failures = cases.filter((c) => c.failure).length;
  const body = cases
    .map((c) => `    <testcase name="${xmlEscape(c.name)}" classname="${xmlEscape(c.classname)}">${c.properties ? `<properties>${c.properties.map(([k, v]) => `<property name="${xmlEscape(k)}" value="${v}"/>`).join('')}</properties>` : ''}${c.failure ? `<failure message="${xmlEscape(c.failure)}"/>` : ''}${c.out ? `<system-out>${xmlEscape(c.out)}</system-out>` : ''}</testcase>`)
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites tests="${cases.length}" failures="${failures}">\n  <testsuite name="pullbench ${xmlEscape(results.scenario.name)}" tests="${cases.length}" failures="${failures}" timestamp="${results.startedAt}">\n${body}\n  </testsuite>\n</testsuites>\n`;
}
