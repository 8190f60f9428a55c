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
});
