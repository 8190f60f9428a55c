import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { scenarioJsonSchema, scenarioJsonSchemaText } from '../../src/scenario/json-schema.js';

describe('the published JSON Schema', () => {
  it('is up to date with src/scenario/schema.ts (regenerate: npx tsx schema/generate.ts)', () => {
    expect(readFileSync('schema/scenario.schema.json', 'utf8')).toBe(scenarioJsonSchemaText());
  });

  it('is closed (unknown keys rejected) and names the required header', () => {
    const schema = scenarioJsonSchema() as { additionalProperties: boolean; required: string[]; properties: Record<string, unknown> };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(expect.arrayContaining(['apiVersion', 'kind', 'metadata', 'images', 'rollouts']));
    expect(schema.properties.apiVersion).toMatchObject({ const: 'pullbench.dev/v1alpha1' });
  });

  it('publishes every default as a file writes it, so an editor that inserts one inserts a valid value', () => {
    const defaults: { path: string; value: unknown; node: Record<string, unknown> }[] = [];
    const walk = (node: Record<string, unknown>, path: string): void => {
      if ('default' in node) defaults.push({ path, value: node.default, node });
      for (const [k, v] of Object.entries((node.properties ?? {}) as Record<string, Record<string, unknown>>)) walk(v, `${path}.${k}`);
      if (node.items) walk(node.items as Record<string, unknown>, `${path}[]`);
    };
    walk(scenarioJsonSchema(), '');
    const timeout = defaults.find((d) => d.path === '.rollouts[].timeout');
    expect(timeout?.value).toBe('5m');
    const badStrings = defaults.filter((d) => d.node.type === 'string' && (typeof d.value !== 'string' || !new RegExp(d.node.pattern as string).test(d.value)));
    expect(badStrings.map((d) => `${d.path}: ${JSON.stringify(d.value)}`)).toEqual([]);
    expect(defaults.find((d) => d.path === '.failureRate')?.value).toEqual({ max: '0%' });
  });
});
