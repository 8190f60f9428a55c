import type { RunEvent } from '../core/progress.js';
import { formatBytes } from '../util/units.js';

/** One line of text for a run event. */
export function describeEvent(e: RunEvent): string {
  switch (e.type) {
    case 'cluster-ready': return `cluster ${e.driver} ready`;
    case 'seeding': return `registry ${e.registry} at ${e.url}; seeding ${e.images} image(s)`;
    case 'verified': return `verify: ${e.images.map((i) => `${i.image} ${i.decision}`).join(', ')}`;
    case 'arm': return `arm ${e.arm} (${e.repetition}/${e.repetitions})`;
    case 'warming': return `  warming ${e.nodes} node(s) with ${e.images} image(s)`;
    case 'emptying-cache': return `  emptying the image cache on ${e.nodes} node(s)`;
    case 'load': return `  load: ${e.storms}`;
    case 'step': {
      const where = e.virtualSeconds !== undefined ? ` at ${e.virtualSeconds.toFixed(1)} s virtual` : e.linkBytes !== undefined ? `, ${formatBytes(e.linkBytes)} over the links` : '';
      return `  ${e.step}: ${e.ready}/${e.total} ready${where}`;
    }
  }
}

export interface ProgressOptions {
  /** A terminal: a line whenever readiness changes (at most every 2 s while it does not). Else plain lines, one every `plainEveryMs`. */
  interactive: boolean;
  plainEveryMs?: number;
  now?: () => number;
}

/**
 * Renders run events as lines. Every event but `step` is shown as it comes; `step`
 * lines are throttled: on a terminal when readiness changes or every 2 s, in a
 * log (stderr not a terminal, or CI) every few seconds and when a step completes.
 */
export function progressRenderer(write: (line: string) => void, opts: ProgressOptions): (e: RunEvent) => void {
  const now = opts.now ?? Date.now;
  const every = opts.interactive ? 2000 : (opts.plainEveryMs ?? 5000);
  let lastKey = '';
  let lastAt = Number.NEGATIVE_INFINITY;
  return (e) => {
    if (e.type === 'step') {
      const key = `${e.step}:${e.ready}/${e.total}`;
      const done = e.ready === e.total;
      const changed = opts.interactive && key !== lastKey;
      if (!done && !changed && now() - lastAt < every) return;
      if (done && key === lastKey) return;
      lastKey = key;
      lastAt = now();
    }
    write(describeEvent(e));
  };
}
