// Regenerates docs/scenario-reference.md from src/scenario/schema.ts:
//   npm run docs:scenario
// test/scenario/reference.test.ts fails when the committed file is stale.
import { writeFileSync } from 'node:fs';
import { scenarioReferenceMarkdown } from '../src/scenario/reference.js';

const target = new URL('../docs/scenario-reference.md', import.meta.url);
writeFileSync(target, scenarioReferenceMarkdown());
process.stderr.write(`wrote ${target.pathname}\n`);
