import { API_VERSION } from './schema.js';
import { scenarioJsonSchema } from './json-schema.js';

/**
 * docs/scenario-reference.md, rendered from the published JSON Schema (so from
 * src/scenario/schema.ts): one section per top-level key, one table row per field
 * with its type, default and description. Regenerate with `npm run docs:scenario`;
 * test/scenario/reference.test.ts fails when the committed file is stale.
 */

type Node = {
  type?: string;
  description?: string;
  default?: unknown;
  const?: unknown;
  enum?: unknown[];
  anyOf?: Node[];
  properties?: Record<string, Node>;
  required?: string[];
  items?: Node;
  pattern?: string;
  examples?: unknown[];
  writeOnly?: boolean;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  uniqueItems?: boolean;
};

/** A documented field: its dotted path (`[]` for list items) and its schema. */
export interface ReferenceField {
  path: string;
  node: Node;
  required: boolean;
  /** The default the enclosing object's default gives this field, when it has none of its own. */
  inherited?: unknown;
}

// The unit-bearing scalars publish one example each (schema-builder's UnitSchema); the example names the unit.
const UNIT_BY_EXAMPLE: Record<string, string> = { '40MB': 'size', '40ms': 'duration', '200Mbit': 'bandwidth', '25%': 'percentage' };

const unitOf = (n: Node): string | undefined => {
  if (n.anyOf) return n.anyOf.map(unitOf).find((u) => u !== undefined);
  return typeof n.examples?.[0] === 'string' ? UNIT_BY_EXAMPLE[n.examples[0]] : undefined;
};

/** Every field of the schema, depth first, in declaration order. */
export function referenceFields(root: Node = scenarioJsonSchema() as Node): ReferenceField[] {
  const out: ReferenceField[] = [];
  const visit = (obj: Node, prefix: string, parentDefault: unknown): void => {
    for (const [key, node] of Object.entries(obj.properties ?? {})) {
      const path = prefix ? `${prefix}.${key}` : key;
      const inherited = isRecord(parentDefault) ? parentDefault[key] : undefined;
      out.push({ path, node, required: obj.required?.includes(key) ?? false, ...(inherited !== undefined ? { inherited } : {}) });
      if (node.type === 'object') visit(node, path, node.default ?? inherited);
      if (node.type === 'array' && node.items?.type === 'object') visit(node.items, `${path}[]`, undefined);
    }
  };
  visit(root, '', undefined);
  return out;
}

/** The whole Markdown page. */
export function scenarioReferenceMarkdown(): string {
  const fields = referenceFields();
  const sections = new Map<string, ReferenceField[]>();
  for (const f of fields) {
    const top = f.path.split(/[.[]/)[0]!;
    sections.set(top, [...(sections.get(top) ?? []), f]);
  }
  const lines = [
    '# Scenario file reference',
    '',
    '<!-- Generated from src/scenario/schema.ts by `npm run docs:scenario`; do not edit by hand. -->',
    '',
    `Every field of a scenario file (\`apiVersion: ${API_VERSION}\`, \`kind: Scenario\`), generated from the`,
    'schema that also checks files at load time and is published as',
    '[`schema/scenario.schema.json`](../schema/scenario.schema.json). How a run uses them:',
    '[scenarios.md](scenarios.md).',
    '',
    '- Unknown keys are errors (with a "did you mean"); every problem is listed at once with `file:line:column`.',
    '- Units: sizes `40MB` (10^6) or `40MiB` (2^20) or a bare number of bytes; durations `40ms`, `1.5s`, `1m30s`, `6h`;',
    '  bandwidths `200Mbit`, `1Gbit` (bits/s) or `25MBps` (bytes/s); percentages `25%` (the grammar: [cli.md](cli.md#units)).',
    '- `${env:NAME}` in any value is replaced by the environment variable (a missing one is `SCENARIO_ENV_MISSING`);',
    '  secret fields are redacted (`***`) in results.',
    '- `pullbench run FILE --set path=value` overrides any field, e.g. `--set cluster.nodes=5`,',
    '  `--set rollouts[0].deployment.replicas=5`, `--set matrix.pullPolicy=[Always]`.',
    '- A path `a[].b` is the field `b` of each entry of the list `a`. "required" means the key must be present',
    '  when its parent is; "-" means optional, with no default.',
    '',
  ];
  for (const [top, rows] of sections) {
    lines.push(`## \`${top}\``, '');
    lines.push('| field | type | default | meaning |', '|---|---|---|---|');
    for (const f of rows) {
      lines.push(`| \`${f.path}\` | ${cell(typeText(f.node))} | ${cell(defaultText(f))} | ${cell(f.node.description ?? '')} |`);
    }
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

function typeText(n: Node): string {
  if (n.const !== undefined) return `\`${String(n.const)}\``;
  if (n.enum) return `one of ${n.enum.map((v) => `\`${String(v)}\``).join(', ')}`;
  if (n.anyOf) {
    const unit = unitOf(n);
    const parts = n.anyOf.map(typeText);
    // A size is a unit string or a bare number of bytes: one word says it.
    if (unit === 'size' && parts.length === 2) return 'size (`40MB`, `40MiB` or bytes)';
    return parts.join(' or ');
  }
  const unit = unitOf(n);
  if (unit) return `${unit} (\`${String(n.examples![0])}\`)`;
  switch (n.type) {
    case 'string':
      if (n.writeOnly) return 'secret string';
      if (n.pattern === '^\\d+%$') return 'percentage (`25%`)';
      return n.pattern ? `string matching \`${n.pattern}\`` : 'string';
    case 'integer':
    case 'number':
      return `${n.type}${range(n)}`;
    case 'boolean':
      return 'boolean';
    case 'array': {
      const item = n.items?.type === 'object' ? 'mappings' : typeText(n.items ?? {});
      const rules = [n.minItems ? `at least ${n.minItems}` : '', n.uniqueItems ? 'no duplicates' : ''].filter(Boolean);
      return `list of ${item}${rules.length ? ` (${rules.join(', ')})` : ''}`;
    }
    case 'object':
      return 'mapping';
    default:
      return 'any';
  }
}

function range(n: Node): string {
  if (n.minimum !== undefined && n.maximum !== undefined) return `, ${n.minimum} to ${n.maximum}`;
  if (n.minimum !== undefined) return ` >= ${n.minimum}`;
  if (n.maximum !== undefined) return ` <= ${n.maximum}`;
  return '';
}

function defaultText(f: ReferenceField): string {
  const value = f.node.default !== undefined ? f.node.default : f.inherited;
  if (value === undefined) return f.required ? 'required' : '-';
  if (f.node.type === 'object' || isRecord(value)) return Object.keys(value as object).length ? 'see its fields' : '`{}`';
  return `\`${yamlValue(value)}\``;
}

// Defaults come as a file writes them (the schema's written form); lists in YAML's flow style.
const yamlValue = (value: unknown): string => (Array.isArray(value) ? `[${value.map(yamlValue).join(', ')}]` : String(value));

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
