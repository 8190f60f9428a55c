import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { evaluateConditions, evaluateOperator, kyvernoMatches, substitute } from '../../src/supply-chain/kyverno.js';
import { parsePolicies } from '../../src/supply-chain/policy.js';

const sample = readFileSync(new URL('../fixtures/kyverno-policies/require-vulnerability-scan.yaml', import.meta.url), 'utf8');
const now = new Date('2026-12-06T12:00:00Z');
const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000).toISOString();

describe('Kyverno verifyImages policies', () => {
  const [rule] = parsePolicies(sample, 'require-vulnerability-scan.yaml').kyverno;

  it('parses kyverno/policies\' require-vulnerability-scan: Audit, the image pattern, the keyless attestor, the condition', () => {
    expect(rule).toMatchObject({ kind: 'ClusterPolicy', name: 'require-vulnerability-scan/scan-not-older-than-one-week', action: 'audit', imageReferences: ['ghcr.io/myorg/myrepo:*'] });
    const att = rule!.attestations[0]!;
    expect(att.predicateType).toBe('cosign.sigstore.dev/attestation/vuln/v1');
    expect(att.attestors[0]!.entries[0]!.keyless!.identities[0]).toEqual({ subjectRegExp: '^https://github\\.com/myorg/myrepo/\\.github/workflows/.*$', issuer: 'https://token.actions.githubusercontent.com' });
    expect(att.conditions[0]!.all[0]!.operator).toBe('LessThanOrEquals');
  });

  it('matches images through Kyverno\'s normalised name', () => {
    expect(kyvernoMatches(rule!, 'ghcr.io/myorg/myrepo:v1')).toBe(true);
    expect(kyvernoMatches(rule!, 'ghcr.io/myorg/myrepo')).toBe(true); // :latest is added
    expect(kyvernoMatches(rule!, 'ghcr.io/myorg/other:v1')).toBe(false);
  });

  it('decides its condition with time_since: a 2-day-old scan passes, an 8-day-old one fails, naming the condition', () => {
    const blocks = rule!.attestations[0]!.conditions;
    expect(evaluateConditions(blocks, { metadata: { scanFinishedOn: daysAgo(2) } }, now)).toEqual({ ok: true, reason: 'conditions hold' });
    const old = evaluateConditions(blocks, { metadata: { scanFinishedOn: daysAgo(8) } }, now);
    expect(old.ok).toBe(false);
    expect(old.reason).toContain('"192h0m0s"');
  });

  it('substitutes {{ }} with JMESPath: a whole expression keeps its type, an embedded one becomes text', () => {
    const predicate = { scanner: { result: { Results: [{ Vulnerabilities: [{ Severity: 'HIGH' }, { Severity: 'LOW' }, { Severity: 'CRITICAL' }] }] } } };
    expect(substitute("{{ scanner.result.Results[].Vulnerabilities[?Severity=='HIGH' || Severity=='CRITICAL'][] | length(@) }}", predicate)).toBe(2);
    expect(substitute('found {{ length(scanner.result.Results) }} result(s)', predicate)).toBe('found 1 result(s)');
  });

  it('evaluates conditions over a vuln predicate: no HIGH or CRITICAL finding', () => {
    const blocks = [{ all: [{ key: "{{ scanner.result.Results[].Vulnerabilities[?Severity=='HIGH' || Severity=='CRITICAL'][] | length(@) }}", operator: 'Equals', value: 0 }], any: [] }];
    expect(evaluateConditions(blocks, { scanner: { result: { Results: [{ Vulnerabilities: [{ Severity: 'HIGH' }] }] } } }, now).ok).toBe(false);
    expect(evaluateConditions(blocks, { scanner: { result: { Results: [{ Vulnerabilities: [{ Severity: 'LOW' }] }] } } }, now).ok).toBe(true);
  });

  it('applies the operators as Kyverno\'s handlers do', () => {
    expect(evaluateOperator('Equals', 'ghcr.io/acme/app', 'ghcr.io/acme/*')).toBe(true); // string values are wildcards
    expect(evaluateOperator('Equals', 3, '3')).toBe(true);
    expect(evaluateOperator('Equals', '90m', '1h30m')).toBe(true); // durations
    expect(evaluateOperator('GreaterThan', '26h', '24h')).toBe(true);
    expect(evaluateOperator('LessThanOrEquals', 5, '5')).toBe(true);
    expect(evaluateOperator('AnyIn', ['a', 'z'], ['a', 'b'])).toBe(true);
    expect(evaluateOperator('AllIn', ['a', 'z'], ['a', 'b'])).toBe(false);
    expect(evaluateOperator('AllNotIn', ['x', 'y'], ['a', 'b'])).toBe(true);
    expect(evaluateOperator('NotEquals', 'a', 'a')).toBe(false);
  });

  it('needs every all condition and one any condition per block', () => {
    const c = (operator: string, key: unknown, value: unknown) => ({ key, operator, value });
    expect(evaluateConditions([{ all: [c('Equals', 1, 1)], any: [c('Equals', 1, 2), c('Equals', 2, 2)] }], {}, now).ok).toBe(true);
    expect(evaluateConditions([{ all: [], any: [c('Equals', 1, 2)] }], {}, now).ok).toBe(false);
  });

  it('refuses unknown operators and non-verifyImages rules with POLICY_INVALID, listing each', () => {
    const bad = `kind: ClusterPolicy\nmetadata: {name: p}\nspec:\n  rules:\n    - name: v\n      validate: {}\n    - name: i\n      verifyImages:\n        - imageReferences: ["*"]\n          attestations:\n            - type: x\n              conditions: [{all: [{key: a, operator: Bigger, value: b}]}]\n`;
    try {
      parsePolicies(bad, 'bad.yaml');
      expect.unreachable();
    } catch (err) {
      expect(isPullbenchError(err, 'POLICY_INVALID')).toBe(true);
      expect((err as { details: { problems: string[] } }).details.problems).toHaveLength(2);
    }
  });
});
