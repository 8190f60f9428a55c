import type { ArmResult, FaultRun, Repetition, RunResults } from '../../results/index.js';
import { formatMs } from '../../util/units.js';

/** One pull attempt: from kubelet's `Pulling` to its failure (or to `Pulled`, or to the pod's end). */
export interface AttemptTrack {
  from: number;
  to: number;
  /** The cause of the failure that ended it; absent for the attempt that pulled the image. */
  cause?: string;
}

/** One pod on the timeline, in ms since the repetition's origin. */
export interface PodTrack {
  pod: string;
  node: string;
  rollout: string;
  created: number;
  /** Ready, or the end of the drawn span for a pod that never was. */
  end: number;
  ready?: number;
  attempts: AttemptTrack[];
  /** kubelet's back-off: from a failed attempt to the next one (to the span's end when none came). */
  backoffs: Array<{ from: number; to: number; retried: boolean }>;
  outcome: string;
}

/** What the timeline of one arm's first repetition draws. */
export interface ArmTimeline {
  arm: string;
  /** ms since the epoch that x = 0 stands for. */
  origin: number;
  span: number;
  /** `action`: a real cluster's fault, what was done to the container (`docker stop`, `docker pause`). */
  faults: Array<{ target: string; kind: string; from: number; to: number; action?: string }>;
  pods: PodTrack[];
  /** Pods left out beyond the row limit (pods without a failed attempt first). */
  omitted: number;
}

// Pods with a failed attempt first (they are what the timeline is for), then by creation.
const byInterest = (a: Repetition['pods'][number], b: Repetition['pods'][number]): number =>
  Number((b.pullFailures?.length ?? 0) > 0) - Number((a.pullFailures?.length ?? 0) > 0) || a.createdAt - b.createdAt;

/**
 * The first repetition of an arm as pod tracks: each pull attempt, the back-off after each failed one, and the
 * fault windows. Undefined where nothing failed and no fault was scheduled (the waterfall says it all then).
 */
export function armTimeline(arm: ArmResult, maxPods = 80): ArmTimeline | undefined {
  const rep = arm.repetitions[0];
  if (!rep || rep.pods.length === 0) return undefined;
  const windows: FaultRun[] = rep.faults?.windows ?? [];
  if (windows.length === 0 && !rep.pods.some((p) => (p.pullFailures?.length ?? 0) > 0)) return undefined;
  let origin = Infinity;
  let last = -Infinity;
  for (const p of rep.pods) {
    origin = Math.min(origin, p.createdAt);
    for (const t of [p.readyAt, p.pulledAt, ...(p.pullAttempts ?? []), ...(p.pullFailures ?? []).map((f) => f.at)]) if (t !== undefined) last = Math.max(last, t);
  }
  for (const w of windows) {
    origin = Math.min(origin, w.startedAt);
    last = Math.max(last, w.endedAt);
  }
  const end = Math.max(last, origin + 1);
  const chosen = [...rep.pods].sort(byInterest).slice(0, maxPods).sort((a, b) => a.createdAt - b.createdAt);
  const pods = chosen.map((p): PodTrack => {
    const attempts = p.pullAttempts ?? [];
    const failures = p.pullFailures ?? [];
    const podEnd = p.readyAt ?? end;
    const tracks: AttemptTrack[] = [];
    const backoffs: PodTrack['backoffs'] = [];
    attempts.forEach((at, k) => {
      const next = attempts[k + 1];
      // The failure this attempt ended in: the first one after it and before the next attempt.
      const failure = failures.find((f) => f.at >= at && (next === undefined || f.at < next));
      if (failure) {
        tracks.push({ from: at - origin, to: failure.at - origin, cause: failure.cause });
        backoffs.push({ from: failure.at - origin, to: (next ?? podEnd) - origin, retried: next !== undefined });
      } else {
        tracks.push({ from: at - origin, to: (p.pulledAt ?? p.readyAt ?? next ?? podEnd) - origin });
      }
    });
    return {
      pod: p.name,
      node: p.node ?? '-',
      rollout: p.rollout,
      created: p.createdAt - origin,
      end: podEnd - origin,
      ...(p.readyAt !== undefined ? { ready: p.readyAt - origin } : {}),
      attempts: tracks,
      backoffs,
      outcome: p.outcome,
    };
  });
  return {
    arm: arm.arm.name,
    origin,
    span: end - origin,
    faults: windows.map((w) => ({ target: w.target, kind: String(w.kind), from: w.startedAt - origin, to: w.endedAt - origin, ...(w.action ? { action: w.action } : {}) })),
    pods,
    omitted: rep.pods.length - chosen.length,
  };
}

const esc = (s: string): string => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
const LABEL_W = 230;
const PLOT_W = 900;
const ROW_H = 14;
const TOP = 16;
const AXIS_H = 22;

// A tick step of 1, 2 or 5 x 10^n seconds giving at most ~10 ticks.
function tickStep(spanMs: number): number {
  const raw = spanMs / 10;
  const pow = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  return [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
}

/** One arm's timeline as inline SVG: fault windows behind, per pod its life, attempts and back-off gaps. */
export function timelineSvg(t: ArmTimeline): string {
  const x = (ms: number): number => Math.round((LABEL_W + (Math.max(0, ms) / t.span) * PLOT_W) * 10) / 10;
  const w = (from: number, to: number): number => Math.max(1, x(to) - x(from));
  const height = TOP + t.pods.length * ROW_H + AXIS_H;
  const rowsBottom = TOP + t.pods.length * ROW_H;
  const parts: string[] = [];
  for (const f of t.faults) {
    const label = `fault ${f.kind} on ${f.target}${f.action ? ` (${f.action})` : ''}: ${formatMs(f.from)} to ${formatMs(f.to)}`;
    parts.push(`<rect class="fault" data-kind="${esc(f.kind)}" data-target="${esc(f.target)}" data-from="${f.from}" data-to="${f.to}" x="${x(f.from)}" y="0" width="${w(f.from, f.to)}" height="${rowsBottom}"><title>${esc(label)}</title></rect>`);
    parts.push(`<text class="fault-label" x="${x(f.from) + 3}" y="11">${esc(`${f.target} ${f.action ?? f.kind}`)}</text>`);
  }
  t.pods.forEach((p, i) => {
    const y = TOP + i * ROW_H;
    const mid = y + ROW_H / 2;
    const row: string[] = [`<text class="pod-label" x="${LABEL_W - 6}" y="${mid + 4}">${esc(`${p.pod} @${p.node}`)}</text>`];
    row.push(`<line class="life" x1="${x(p.created)}" x2="${x(p.end)}" y1="${mid}" y2="${mid}"><title>${esc(`${p.rollout}: created ${formatMs(p.created)}, ${p.outcome}`)}</title></line>`);
    for (const b of p.backoffs) {
      const label = b.retried
        ? `back-off ${formatMs(b.to - b.from)}`
        : p.ready !== undefined
          ? `back-off ${formatMs(b.to - b.from)}, then Ready on the image another pod pulled to the node`
          : `back-off, no retry before the step ended (${formatMs(b.to - b.from)} drawn)`;
      row.push(`<rect class="backoff" data-from="${b.from}" data-to="${b.to}" data-retried="${b.retried}" x="${x(b.from)}" y="${y + 4}" width="${w(b.from, b.to)}" height="${ROW_H - 8}"><title>${esc(label)}</title></rect>`);
    }
    for (const a of p.attempts) {
      const label = a.cause ? `attempt at ${formatMs(a.from)} failed (${a.cause}) at ${formatMs(a.to)}` : `attempt at ${formatMs(a.from)}, pulled at ${formatMs(a.to)}`;
      row.push(`<rect class="attempt ${a.cause ? 'failed' : 'pulled'}" data-from="${a.from}" data-to="${a.to}"${a.cause ? ` data-cause="${esc(a.cause)}"` : ''} x="${x(a.from)}" y="${y + 2}" width="${w(a.from, a.to)}" height="${ROW_H - 4}"><title>${esc(label)}</title></rect>`);
    }
    if (p.ready !== undefined) row.push(`<circle class="ready" data-at="${p.ready}" cx="${x(p.ready)}" cy="${mid}" r="3"><title>${esc(`ready at ${formatMs(p.ready)}`)}</title></circle>`);
    parts.push(`<g class="pod" data-pod="${esc(p.pod)}" data-outcome="${esc(p.outcome)}">${row.join('')}</g>`);
  });
  const step = tickStep(t.span);
  for (let ms = 0; ms <= t.span; ms += step) {
    parts.push(`<line class="tick" x1="${x(ms)}" x2="${x(ms)}" y1="${TOP}" y2="${rowsBottom + 4}"/><text class="tick-label" x="${x(ms)}" y="${rowsBottom + 16}">${esc(formatMs(ms))}</text>`);
  }
  return `<svg class="timeline" data-arm="${esc(t.arm)}" viewBox="0 0 ${LABEL_W + PLOT_W + 20} ${height}" width="100%" role="img" aria-label="${esc(`pull attempts, back-off and fault windows per pod, arm ${t.arm}`)}">${parts.join('')}</svg>`;
}

export const TIMELINE_STYLE = `
.timeline { font: 10px var(--font); background: var(--card); border-radius: 6px; }
.timeline .fault { fill: var(--c5); opacity: .15; } .timeline .fault-label { fill: var(--c5); }
.timeline .life { stroke: var(--grid); stroke-width: 1; } .timeline .backoff { fill: var(--c2); opacity: .55; }
.timeline .attempt.failed { fill: var(--c5); } .timeline .attempt.pulled { fill: var(--c1); } .timeline .ready { fill: var(--c3); }
.timeline .pod-label { fill: var(--fg); text-anchor: end; } .timeline .tick { stroke: var(--grid); stroke-dasharray: 2 3; } .timeline .tick-label { fill: var(--muted); text-anchor: middle; }
.swatch { display: inline-block; width: .9em; height: .9em; vertical-align: middle; margin: 0 .25em 0 .75em; border-radius: 2px; }
`;

/** The section: one timeline per arm that met a fault or a failed pull (first repetition); empty otherwise. */
export function timelinesSection(results: RunResults): string {
  const timelines = results.arms.flatMap((a) => {
    const t = armTimeline(a);
    return t ? [t] : [];
  });
  if (timelines.length === 0) return '';
  const legend = `<p class="legend"><span class="swatch" style="background:var(--c5);opacity:.3"></span>fault window<span class="swatch" style="background:var(--c5)"></span>failed attempt<span class="swatch" style="background:var(--c2);opacity:.6"></span>kubelet back-off<span class="swatch" style="background:var(--c1)"></span>attempt that pulled<span class="swatch" style="background:var(--c3);border-radius:50%"></span>Ready. First repetition; time from its first pod created (or first fault window). Hover for times and causes.</p>`;
  const blocks = timelines.map(
    (t) => `<h3>${esc(t.arm)}</h3>${timelineSvg(t)}${t.omitted > 0 ? `<p class="legend">${t.omitted} more pods without a failed attempt are not drawn.</p>` : ''}`,
  );
  return `<h2 id="pod-timelines">Pull attempts, back-off and faults per pod</h2>${legend}${blocks.join('')}`;
}
