import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import Compare from '../../src/commands/compare.js';
import Report from '../../src/commands/report.js';
import Run from '../../src/commands/run.js';

interface Step { name?: string; run?: string; uses?: string; if?: string; with?: Record<string, unknown> }
const workflow = parse(readFileSync('examples/nightly.yml', 'utf8')) as { on: Record<string, unknown>; jobs: { bench: { steps: Step[] } } };
const steps = workflow.jobs.bench.steps;
const scripts = steps.map((s) => s.run ?? '').join('\n');

// Every `--flag` / `-o` the workflow passes to a pullbench command must exist on that command.
function flagsUsed(command: string): string[] {
  const calls = scripts.replace(/\\\n\s*/g, ' ').split('\n').filter((l) => l.includes(`./bin/run.js ${command} `));
  return [...new Set(calls.flatMap((l) => [...l.matchAll(/\s--?([a-z][\w-]*)/g)].map((m) => m[1]!)))];
}
const known = (cls: { flags?: Record<string, { char?: string }> }): string[] =>
  Object.entries(cls.flags ?? {}).flatMap(([name, f]) => [name, ...(f.char ? [f.char] : [])]);

describe('examples/nightly.yml', () => {
  it('runs nightly and on demand', () => {
    expect(workflow.on).toHaveProperty('schedule');
    expect(workflow.on).toHaveProperty('workflow_dispatch');
  });

  it('restores the history artifact, adds tonight, gates on its change points and keeps it as an artifact again', () => {
    const uses = steps.map((s) => s.uses ?? '');
    expect(uses).toContain('actions/download-artifact@v4');
    expect(steps.find((s) => s.uses === 'actions/download-artifact@v4')?.with).toMatchObject({ name: 'pullbench-history' });
    expect(steps.filter((s) => s.uses === 'actions/upload-artifact@v4').map((s) => s.with?.name)).toContain('pullbench-history');
    expect(scripts).toMatch(/\.\/bin\/run\.js compare "\$\{last\}results\.json" "\$OUT\/results\.json"/);
    expect(scripts).toContain('./bin/run.js compare --history "$HISTORY_DIR"');
    expect(scripts).toContain('./bin/run.js report');
    // The gate fails on the history's change point, not on one night against another.
    expect(scripts).toMatch(/steps\.history\.outputs\.code }}" = 4 \]; then .*exit 4/);
    expect(scripts).toMatch(/"\$code" = 9 \]; then echo "::warning::/);
  });

  it('passes only flags the commands have', () => {
    for (const [command, cls] of [['run', Run], ['compare', Compare], ['report', Report]] as const) {
      const used = flagsUsed(command);
      expect(used.length, command).toBeGreaterThan(0);
      for (const f of used) expect(known(cls), `${command} --${f}`).toContain(f);
    }
  });
});
