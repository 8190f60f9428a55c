import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { referenceFields, scenarioReferenceMarkdown } from '../../src/scenario/reference.js';

describe('the generated scenario reference', () => {
  it('is up to date with src/scenario/schema.ts (regenerate: npm run docs:scenario)', () => {
    expect(readFileSync('docs/scenario-reference.md', 'utf8')).toBe(scenarioReferenceMarkdown());
  });

  it('has a row with a meaning for every field of the schema', () => {
    const page = scenarioReferenceMarkdown();
    const fields = referenceFields();
    expect(fields.length).toBeGreaterThan(100);
    const undescribed = fields.filter((f) => !f.node.description).map((f) => f.path);
    expect(undescribed, 'add .describe() to these fields in src/scenario/schema.ts').toEqual([]);
    for (const f of fields) expect(page).toContain(`| \`${f.path}\` |`);
  });

  it('shows defaults as a scenario file writes them, not as parsed numbers', () => {
    const row = (path: string) => scenarioReferenceMarkdown().split('\n').find((l) => l.startsWith(`| \`${path}\` |`));
    expect(row('rollouts[].timeout')).toContain('| `5m` |');
    expect(row('registry.rateLimit.window')).toContain('| `6h` |');
    expect(row('failureRate.max')).toContain('| `0%` |');
    expect(row('images[].synth.platforms')).toContain('| `[linux/amd64]` |');
    expect(row('images[].ref')).toContain('| required |');
    expect(row('registry.auth.users[].password')).toContain('secret string');
  });
});
