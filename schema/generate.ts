// Regenerates schema/scenario.schema.json from src/scenario/schema.ts:
//   npx tsx schema/generate.ts
// test/scenario/json-schema.test.ts fails when the committed file is stale.
import { writeFileSync } from 'node:fs';
import { scenarioJsonSchemaText } from '../src/scenario/json-schema.js';

const target = new URL('./scenario.schema.json', import.meta.url);
writeFileSync(target, scenarioJsonSchemaText());
process.stderr.write(`wrote ${target.pathname}\n`);
