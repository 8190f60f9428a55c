import { formatBytes } from '../util/units.js';
import type { EngineCounts } from './engine.js';
import type { ImageTarget } from './plan.js';
import { REQUEST_KINDS, type KindResult, type LoadProfile, type LoadResult, type RequestKind } from './types.js';

export interface RunFacts {
  profile: LoadProfile;
  target: ImageTarget;
  auth: LoadResult['auth'];
  connections: number;
  rate?: number | undefined;
  tokenRefreshes: number;
}

/** Engine counts + what was run -> the versioned result object. Pure. */
export function summarize(counts: EngineCounts, facts: RunFacts): LoadResult {
  const seconds = counts.durationSeconds > 0 ? counts.durationSeconds : 1;
  const byKind: Partial<Record<RequestKind, KindResult>> = {};
  REQUEST_KINDS.forEach((kind, i) => {
    if (counts.kindRequests[i] === 0) return;
    const byStatus: Record<string, number> = {};
    for (const [key, n] of counts.kindStatus) {
      const [k, status] = key.split(' ');
      if (k === kind) byStatus[status!] = n;
    }
    byKind[kind] = { requests: counts.kindRequests[i]!, bytes: counts.kindBytes[i]!, ok: counts.kindOk[i]!, byStatus };
  });
  const { target } = facts;
  return {
    schema: 'pullbench.load/v1',
    profile: facts.profile,
    target: target.registry,
    image: {
      repository: target.repository,
      reference: target.reference,
      manifestDigest: target.manifestDigest,
      layers: target.layers.length,
      layerBytes: target.layers.reduce((s, l) => s + l.size, 0),
    },
    auth: facts.auth,
    connections: facts.connections,
    ...(facts.rate !== undefined ? { rate: facts.rate } : {}),
    durationSeconds: counts.durationSeconds,
    startedAt: counts.startedAt.toISOString(),
    finishedAt: counts.finishedAt.toISOString(),
    requests: { total: counts.totalRequests, perSecond: round(counts.totalRequests / seconds, 1) },
    throughput: { bytes: counts.totalBytes, bytesPerSecond: Math.round(counts.totalBytes / seconds) },
    latencyMs: counts.latencyMs,
    errors: counts.errors,
    timeouts: counts.timeouts,
    non2xx: counts.non2xx,
    tooManyRequests: counts.non2xx['429'] ?? 0,
    byKind,
    tokenRefreshes: facts.tokenRefreshes,
    generatorCpuMs: counts.cpuMs,
  };
}

const KIND_LABEL: Record<RequestKind, string> = {
  manifestHead: 'manifest HEAD',
  manifestGet: 'manifest GET',
  blobGet: 'blob GET',
  token: 'token',
};

/** The human summary printed by `pullbench load`. Pure. */
export function renderLoadResult(r: LoadResult): string {
  const lines: string[] = [];
  lines.push(
    `${r.profile} against ${r.target} (${r.image.repository}:${r.image.reference}, ${r.auth} auth): ${r.connections} connections${r.rate !== undefined ? `, ${r.rate} req/s target` : ''}, ${r.durationSeconds} s`,
    '',
  );
  lines.push(
    table(
      ['latency', 'p50', 'p90', 'p99', 'max', 'mean'],
      [['ms', ...[r.latencyMs.p50, r.latencyMs.p90, r.latencyMs.p99, r.latencyMs.max, r.latencyMs.mean].map((n) => String(round(n, 2)))]],
    ),
    '',
  );
  const kinds = REQUEST_KINDS.filter((k) => r.byKind[k]);
  lines.push(
    table(
      ['requests', 'count', '2xx', 'non-2xx', 'bytes'],
      kinds.map((k) => {
        const s = r.byKind[k]!;
        const non2xx = Object.entries(s.byStatus).map(([code, n]) => `${code}×${n}`).join(' ') || '0';
        return [KIND_LABEL[k], String(s.requests), String(s.ok), non2xx, formatBytes(s.bytes)];
      }),
    ),
    '',
  );
  lines.push(
    `${r.requests.total} requests, ${r.requests.perSecond} req/s, ${formatBytes(r.throughput.bytesPerSecond)}/s read`,
    `errors ${r.errors} (timeouts ${r.timeouts}), non-2xx ${Object.values(r.non2xx).reduce((a, b) => a + b, 0)}, 429 too many requests ${r.tooManyRequests}` +
      (r.tokenRefreshes > 0 ? `, token refreshes ${r.tokenRefreshes}` : ''),
  );
  return lines.join('\n');
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
