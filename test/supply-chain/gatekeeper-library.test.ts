import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { podViolations } from '../../src/supply-chain/gatekeeper.js';
import { parsePolicies } from '../../src/supply-chain/policy.js';
import { imagesInManifests } from '../../src/supply-chain/workloads.js';

// gatekeeper-library's own suites (test/fixtures/gatekeeper-library/README.md), run as gator runs them.
const ROOT = new URL('../fixtures/gatekeeper-library/', import.meta.url).pathname;

interface Assertion {
  violations?: number | 'yes' | 'no';
  message?: string;
}
interface Suite {
  tests: { name: string; constraint: string; cases: { name: string; object: string; assertions: Assertion[] }[] }[];
}

// gator's Assertion.Run: count the violations whose message matches the regexp, then compare with yes/no/N (default yes).
function holds(a: Assertion, messages: string[]): boolean {
  const matching = messages.filter((m) => (a.message === undefined ? true : new RegExp(a.message).test(m))).length;
  const want = a.violations ?? 'yes';
  return want === 'yes' ? matching > 0 : want === 'no' ? matching === 0 : matching === want;
}

const cases = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => {
    const dir = join(ROOT, d.name);
    const suite = parse(readFileSync(join(dir, 'suite.yaml'), 'utf8')) as Suite;
    return suite.tests.flatMap((t) => t.cases.map((c) => ({ template: d.name, dir, constraint: t.constraint, ...c })));
  });

describe('gatekeeper-library suites decide as the library says', () => {
  it('covers the three repository templates', () => {
    expect(new Set(cases.map((c) => c.template))).toEqual(new Set(['allowedrepos', 'allowedreposv2', 'disallowedrepos']));
    expect(cases.length).toBeGreaterThanOrEqual(18);
  });

  it.each(cases)('$template/$name', ({ dir, constraint, object, assertions }) => {
    const set = parsePolicies(readFileSync(join(dir, constraint), 'utf8'), constraint);
    expect(set.rules).toHaveLength(1);
    const containers = imagesInManifests(readFileSync(join(dir, object), 'utf8'), object);
    const messages = podViolations(set.rules[0]!, containers);
    for (const a of assertions) expect({ assertion: a, holds: holds(a, messages), messages }).toMatchObject({ holds: true });
  });

  it('a case that should fail is caught (the assertion reading is not vacuous)', () => {
    expect(holds({ violations: 1, message: 'initContainer' }, ['container <a> has an invalid image repo <nginx>'])).toBe(false);
    expect(holds({ violations: 'no' }, ['x'])).toBe(false);
    expect(holds({}, [])).toBe(false);
  });
});
