import { API_VERSION, scenarioSchema } from './schema.js';

/** Where the published schema lives, for `# yaml-language-server: $schema=...`. */
const SCHEMA_ID = 'https://pullbench.dev/schema/scenario.schema.json';

/** The JSON Schema of scenario files, generated from the one schema definition. */
export function scenarioJsonSchema(): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: SCHEMA_ID,
    title: `pullbench Scenario (${API_VERSION})`,
    ...scenarioSchema.toJsonSchema(),
  };
}

/** The file's exact text: stable key order, two-space indent, trailing newline. */
export function scenarioJsonSchemaText(): string {
  return `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`;
}
